"""The joined-additions router's cues (cues.py): revisions, silent new values, answers and picks."""

import pytest
from intent_mediator.cues import (
    MAX_SLOT_COMPARISONS,
    answers_any,
    answers_reply,
    asks_user,
    picks_label,
    refers_back,
    restates_any,
    restates_value,
    terse,
)


@pytest.mark.parametrize(
    ("turn", "expected"),
    [
        ("the tank starts with 500 liters", False),
        ("it's over 3 weeks", False),
        ("use the create_histogram function with 5 bins", False),
        ("can you make it use the create_histogram function", True),  # a false alarm: it costs one Mediator call
        ("actually make it 15, not 12", True),
        ("forget the parking", True),
        ("i meant round to whole numbers", True),
        ("yes, use the list you suggested", True),
        ("No, the other one", True),
        ("sort your query by name", True),
        ("keep the case as it is, don't lowercase", True),
        ("Nah, 5.", True),
        ("Make that 5.", True),
        ("Go with option 2.", True),
        ("Sounds good.", True),
        ("Skip the docstring.", True),
        ("my bad the drinks are 2.50", True),
        ("actualy keep all the ratings", True),
        ("dont bother with type hints", True),
        ("rename it to fetch_user", True),
        ("looks good, now add the reverse direction too", True),
        ("the cheaper one", True),
        ("whoever's free is fine", True),
        ("leave them out", True),
        ("only the ones in the Sales department", False),
        ("list the orders of each customer", False),
        ("make sure it works with negative numbers", False),
        ("it should accept either a list or a tuple", False),
        ("the one-time setup fee is 20", False),
        ("pick whichever date is earlier", False),
        ("wrong address, it's alex.k@acme.com", True),
        # join revision 7: the misses of the read follow-up files, in general form
        ("hold on, it's 3 parts blue to 2 white", True),
        ("leave mike off", True),
        ("hmm no, just return 0 for empty", True),
        ("book the third", True),
        ("i'll take the second", True),
        ("deliver by the 5th", False),  # a date, not a pick
        ("do the sunday one", True),
        ("the kitchen speaker", True),  # a bare noun phrase picks or replaces; it adds nothing
        ("that loses the order", True),
        ("the loan is 200000", False),  # a statement, not a bare noun phrase
        ("the loan is huge", False),
        ("the venue has parking", False),
        ("the sooner the better", False),
        ("that covers food and drinks", False),  # "that" and a verb, but no fault found
        ("this loses the order", True),
        ("leave the tip off", True),
        ("don\u2019t include tax", True),  # a curly apostrophe reads as a plain one
        ("that's at 19:30", False),
        ("that is per person", False),
        ("split the list into the first half and the second", False),
        # join revision 8
        ("nvm the 8 years one", True),
        ("oh nvm", True),
        ("install node 18 with nvm", False),  # the node version manager
        ("run nvm install 18 first", False),
    ],
)
def test_refers_back_flags_revisions_and_answers_to_the_assistant(turn, expected):
    assert refers_back(turn) is expected


@pytest.mark.parametrize(
    ("turn", "earlier", "expected"),
    [
        ("utilities are 180", ["rent is 1200 split between 3 roommates", "utilities are 150"], True),
        ("top 5", ["a function that returns the top 3 most common words"], True),
        ("the drinks are 2.50", ["3 pizzas and 2 drinks at 3 euros each"], True),
        ("utilities are 150", ["utilities are 150"], False),  # the same value again changes nothing
        ("soda costs 3 euros", ["pizza costs 14 euros"], False),  # another thing's price
        ("she buys 5 pears", ["she buys 3 apples"], False),
        ("the second bond pays a coupon of $60", ["the first bond pays a coupon of $50"], False),
        ("it runs for 7 years", ["the coupon is $50"], False),
        ("utilities are 180", ["utilities are 150, split evenly"], True),  # a comma after the number
        ("the budget was 300", ["a budget of 250"], True),
        ("on sundays she reads 40 pages", ["she reads 24 pages a day"], False),  # says something new: sundays
        ("he buys 4 apples", ["she buys 3 apples and he buys 5 pears"], False),  # his apples, not her apples
        ("also in 2023", ["sales in 2022"], False),  # marked as an addition
        ("and on march 7", ["remind me on march 5"], False),
        ("65 mph", ["train leaves at 2pm going 60 mph"], True),  # a bare value: its unit is its slot
        ("60 mph", ["train leaves at 2pm going 60 mph"], False),
        ("8 meters wide", ["it's 12 meters long"], False),  # "wide": says something new
        ("then 60 km per hour for 2 hours", ["it runs at 80 km per hour"], False),  # "then": the next leg
        ("7:30", ["book a table for 4 at 7pm tonight"], True),  # a new clock time
        ("6:15", ["set an alarm for 6:30am"], True),
        ("at 7pm", ["book a table for 4 at 7pm tonight"], False),
        ("at 19:00", ["book a table at casa verde"], False),  # no earlier time to replace
        ("7:00 pm", ["dinner at 7pm"], False),  # the same time, written differently
        ("at 19:00", ["dinner at 7pm"], False),
        ("8pm", ["dinner at 19:00"], True),  # "pm" is part of the time, not a word the earlier turn lacks
        ("3 or 4", ["pick 2 or 3 items"], False),  # "or" is no unit
        # A percentage ends the look back like any number: the bill's slot is "bill", not "15% bill".
        ("tip 15% bill 90", ["15% tip, bill 80 dollars"], True),
        ("15% bill 80", ["15% tip, bill 80 dollars"], False),
        # A closed set's value (weekday, month, size, sort order, separator, day of the month) alone replaces
        # another one; beside a new word it adds.
        ("every thursday", ["remind me to water the plants every Monday"], True),
        ("returning Sunday", ["book me a flight to Austin on Friday"], False),
        ("semicolons", ["join the strings with commas"], True),
        ("medium", ["order a large pepperoni"], True),
        ("ugh it's the 19th", ["the offsite is on the 18th"], True),
        ("also the 19th", ["the offsite is on the 18th"], False),
        ("in december", ["sales in november"], True),
        # Opposites beside the same words flip what was said.
        ("lowest first", ["average price per category, sorted highest first"], True),
        ("keep punctuation, just split on whitespace", ["strip punctuation"], True),
        ("case-insensitive", ["make it case sensitive"], True),
        ("ascending", ["descending"], True),
        ("least common", ["the 3 most common words"], True),
        ("keep the original order", ["remove duplicates"], False),  # beside other words
        ("at most 10 guests", ["at least 3 guests"], False),  # bounds, not opposites
        ("the highest and the lowest", ["the highest"], False),  # both: nothing flipped
        ("smallest first", ["highest first"], True),
        ("it\u2019s the 19th", ["the offsite is on the 18th"], True),  # a curly apostrophe
        # Word forms, hyphens and underscores are read alike on both sides.
        ("keep punctuation", ["it strips punctuation"], True),
        ("keep duplicates", ["remove all duplicates"], True),
        ("keep punctuation", ["stripping punctuation"], True),  # -ing forms, a doubled consonant dropped
        ("lower-case please", ["convert names to upper-case"], True),
        ("tab-separated please", ["export as comma-separated values"], True),
        ("case-insensitive please", ["make the search case_sensitive"], True),
        ("every thu", ["remind me every thursday"], False),  # the same day, abbreviated
        ("by date desc", ["sort by date descending"], False),
        ("lower bound 5", ["upper bound 10"], False),  # bounds, not letter case
        # Number words are numbers, "twice" is "2 times", and short units are the long ones.
        ("eighteen months", ["the rest over twelve months"], True),
        ("twelve months", ["the rest over 12 months"], False),
        ("length is three times the width", ["length is twice the width"], True),
        ("length is 2 times the width", ["length is twice the width"], False),
        ("it was 6 seconds", ["thunder heard 4 s after the lightning"], True),
        ("after 8 years", ["worth after 5 yrs?"], True),
        ("6 seconds later it stopped", ["thunder heard 4 s after the lightning"], False),  # says something new
        # A percentage may name its thing before or after it.
        ("vat is 19%", ["the total with 20% vat"], True),
        ("19% vat", ["vat is 20%"], True),
        ("vat is 20%", ["the total with 20% vat"], False),
        ("each notebook was $4", ["he bought 3 notebooks"], False),  # a price after a count: not across
        ("odd ones", ["return only the even ones"], True),
        ("negative numbers too", ["keep the positive numbers"], False),  # "too": an addition
        ("vat is 19% now", ["the total with 20% vat"], True),  # filler after the percentage
        ("19% vat", ["vat is 20% now"], True),
        ("the budget is eighty dollars", ["the budget is sixty dollars"], True),
        ("the budget is twenty-five dollars", ["the budget is twenty dollars"], True),
        ("25 dollars", ["twenty five dollars"], False),  # one number in words, not 20 and 5
        ("24 eggs", ["two dozen eggs"], False),
        ("200 dollars", ["two hundred dollars"], False),
        ("the fee is 2300", ["the fee is two thousand three hundred"], False),
        ("length is 3 times the width", ["length is thrice the width"], False),
        ("timeout 45 minutes", ["timeout 30min"], True),
        ("it takes 3 hours", ["it takes 2 hrs"], True),
        ("it takes 2 hours", ["it takes 2 h"], False),
        ("30 seconds each", ["play hits of the 90s"], False),  # "the 90s": no seconds
        ("one hour", ["two hours"], False),  # "one" alone stays a word: it is as often a pronoun
        # Bounds and everyday words are not opposites.
        ("max length 64", ["min length 8"], False),
        ("max 2 questions", ["the talk is 45 min"], False),
        ("right now it prints 3 lines", ["align the numbers left"], False),
        ("maximum 20 characters", ["minimum 3 characters"], False),
        ("below 50", ["only values above 10"], False),
        ("false if empty", ["return true if it is sorted"], False),
        ("bottom 3", ["show the top 3 products by revenue"], True),
    ],
)
def test_restates_value_spots_a_silent_change_of_a_value_already_given(turn, earlier, expected):
    assert restates_value(turn, earlier) is expected


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Would you prefer BETWEEN or >= / < on the created_at column?", True),
        ('Sending: "I\'ll be late" to Mom. Send it?', True),
        ("Which do you prefer?\n```python\nprint(1)\n```", False),  # the question is not the reply's end
        ("Could you please provide more information or clarify your question?", False),  # a plea for more
        ("Could you tell me more?", False),
        ("Would you like me to explain further?", False),  # offers of more help: what follows adds
        ("Is there anything else I can help you with?", False),
        ("Do you have any other questions?", False),
        ("Shall I book it? (y/n)", True),
        ("Shall I book it? \U0001f642", True),
        ('Shall I send "See you at 8?"', True),
        ("Total is $45.", False),
        ("", False),
    ],
)
def test_asks_user_is_a_reply_that_ends_by_asking_for_a_choice(reply, expected):
    assert asks_user(reply) is expected


def test_answers_reply_needs_a_reply_and_a_name_the_user_never_wrote():
    options = "Options: Hotel Lirico ($132), Palazzo Celio ($145)."
    assert answers_reply("book Lirico", options, ["hotels in Rome"]) is True
    assert answers_reply("book Lirico", options, ["is Lirico free?"]) is False  # the user's own name
    assert answers_reply("book Lirico", None, ["hotels in Rome"]) is False
    assert answers_reply("book the one called Lirico in the centre of the old town", options, []) is False  # long


def test_a_long_conversation_is_read_once_per_turn():
    """Full history: every user turn is read for a silent new value; each used to reparse every turn before it."""
    import time

    from intent_mediator.programs.mediator import joined_addition
    from intent_mediator.transcript import Turn

    def word(i: int) -> str:
        return "".join(chr(97 + (i // 26**k) % 26) for k in range(3))

    said = [f"the q{word(i)} weighs {i} kg" for i in range(3000)]  # "q": no word of 3000 is a cue word
    started = time.perf_counter()
    assert joined_addition([Turn.user(text) for text in said], said) is not None
    assert time.perf_counter() - started < 8  # about 1 s on 2 cores; rereading every earlier turn took about 18 s


def test_percentages_named_across_slot_and_unit_stay_linear():
    """A bare percentage also compares with earlier percentages that end their clause; the numbers it looks at
    count towards MAX_SLOT_COMPARISONS, so many small turns after one huge one stay cheap."""
    import time

    tags = [f"q{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(200)]
    huge = "vat 5 x " * 50_000 + " ".join(tags)
    said = [huge] + [" ".join(f"{p}% vat {tag} 1" for p in range(20, 45)) for tag in tags]
    started = time.perf_counter()
    restates_any(said, start=0)
    assert time.perf_counter() - started < 4  # about 0.5 s on 2 cores; scanning every "vat" slot took about 3 s


def test_a_hostile_run_of_number_words_is_left_as_words():
    assert restates_value("hundred " * 20_000, ["hundred " * 20_000]) is False  # no int of 40,000 digits


def test_answers_reply_reads_names_not_sentence_openers_or_common_words():
    assert answers_reply("book Zürich", "Options: Hotel Zürich, Hotel Bern.", ["a hotel"]) is True  # any alphabet
    assert answers_reply("book the southwest one", "1. United $212\n2. Southwest $189", ["flights"]) is True
    assert answers_reply("monday morning", "Sure, Monday works.", ["a slot next week"]) is False  # a weekday
    assert answers_reply("input is a tuple", "Here it is.\nInput: a list.", ["a function"]) is False  # a heading
    assert answers_reply("ab", "Use the Ab method.", []) is False  # too short to be a name
    assert answers_reply("abc", "Use the Abc method.", []) is True
    # White space other than a line break stands between sentences as a space does ("Done.\u00a0Lirico ...").
    assert answers_reply("book Lirico", "Done.\u00a0Lirico is free.", ["a hotel"]) is False
    assert answers_reply("book Lirico", "Done, Lirico is free.", ["a hotel"]) is True
    for line_end in ("\n", "\r\n", "\r", "\u2028", "\x0c"):  # every line break opens a line, as splitlines reads them
        reply = f"Here it is.{line_end}Input: a list.{line_end}Use the Abc method."
        assert answers_reply("input is a tuple", reply, ["a function"]) is False, repr(line_end)
        assert answers_reply("abc", reply, []) is True, repr(line_end)
    for space in ("\xa0", "\u202f", "\u3000"):  # spaces that end no line: the word after one is no sentence start
        assert answers_reply("southwest", f"You could fly with{space}Southwest or Delta.", []) is True, repr(space)


@pytest.mark.parametrize(
    ("turn", "expected"),
    [
        ("munich", True),
        ("B", True),
        ("70k", True),
        ("semicolons.", True),
        ("7:30pm", False),  # a clock time: `restates_value` compares it with earlier ones
        ("6:15.", False),
        ("also", False),
        ("into spanish", False),
        ("and porto?", False),
    ],
)
def test_terse_is_a_follow_up_of_one_word_or_value(turn, expected):
    assert terse(turn) is expected


def test_a_terse_follow_up_goes_to_the_lm():
    from intent_mediator.programs.mediator import joined_addition
    from intent_mediator.transcript import Turn

    said = ["customers in berlin who spent over 1000", "munich"]
    turns = [Turn.user(said[0]), Turn.assistant("SELECT ..."), Turn.user(said[1])]
    assert joined_addition(turns, said, resolved_first=True) is None
    said = ["book a table for 4 at Nando's on Friday", "7:30pm"]  # a first time adds; no earlier one to replace
    turns = [Turn.user(said[0]), Turn.assistant("Noted."), Turn.user(said[1])]
    assert joined_addition(turns, said, resolved_first=True) is not None


@pytest.mark.parametrize(
    ("turn", "reply", "expected"),
    [
        ("2 but the defaults passed in", "Two options: 1) plain json.load, 2) json.load with a fallback.", True),
        ("B", "Two ways: A) by absolute amount, B) only positive amounts.", True),
        ("option 2, please", "1. Ryanair 06:40\n2. Lufthansa 10:15", True),
        ("C", "Two ways: A) by absolute amount, B) only positive amounts.", False),  # no such option
        ("1", "One way: 1) plain json.load.", False),  # one label is no list of options
        ("3 weeks", "1. Weekdays: 5 x 24\n2. Weekends: 2 x 40\n3. Times 3", False),  # a value, not a pick
        ("2 of them are broken", "1) a\n2) b", False),
        ("2 but with defaults", "Two options:\n**1.** plain json.load\n**2.** json.load with a fallback.", True),
        ("B, thanks", "Two ways:\n- **A**: by absolute amount\n- **B**: only positive amounts", True),
        ("the second one", "Two ways:\n- **A**: by absolute amount\n- **B**: only positive amounts", True),
        ("2 is fine", "1) Ryanair 06:40 2) Lufthansa 10:15", True),
        ("2nd please", "1) Ryanair 06:40 2) Lufthansa 10:15", True),
        ("3, with two kids", "Budget roughly 2. Hotels run about 3. Flights are extra.", False),  # prose numbers
    ],
)
def test_picks_label_is_a_turn_opening_with_one_of_the_replys_option_labels(turn, reply, expected):
    assert picks_label(turn, reply) is expected


def test_answers_any_reads_option_labels():
    options = "Two options: 1) plain json.load, 2) json.load with a fallback."
    assert answers_any([(options, "2 but with defaults")], ["load the config file"]) is True
    assert answers_any([(options, "cache it too")], ["load the config file"]) is False


def test_hostile_opposites_and_labels_stay_cheap():
    """A 340 KB turn of opposite words after one earlier opposite, and 1000 short turns after a 500 KB labelled
    reply: each used to take about 9 s (every pair rescanned the new turn; every turn rescanned the reply)."""
    import time

    new = "keep punctuation " * 19_990 + "strip"
    started = time.perf_counter()
    restates_any(["strip punctuation", new], start=1)
    assert time.perf_counter() - started < 2
    reply = "1) x " + "word " * 100_000 + "2) y."
    started = time.perf_counter()
    assert answers_any([(reply, "9, please")] * 1000, ["do it"]) is False
    assert time.perf_counter() - started < 2
    # A long last turn after many short ones: its words are compared only with turns at least as long (18 s before).
    earlier = ["on monday"] * 20_000
    letters = "abcdefghijklmnopqrstuvwxyz"
    long_turn = " ".join("q" + "".join(letters[i // 26**k % 26] for k in range(4)) for i in range(60_000)) + " friday"
    started = time.perf_counter()
    assert restates_any([*earlier, long_turn], start=len(earlier)) is False
    assert time.perf_counter() - started < 2


def test_answers_any_reads_each_turn_against_the_reply_before_it():
    options = "Options: Hotel Lirico, Palazzo Celio."
    assert answers_any([(options, "thanks"), (options, "book Lirico")], ["hotels in rome"]) is True
    assert answers_any([(None, "is lirico any good"), (options, "book Lirico")]) is False  # named by the user first
    assert answers_any([(None, "book Lirico")]) is False


def test_a_table_of_numbers_costs_a_bounded_number_of_comparisons():
    """A hostile 30 000-number turn, then turns of 50 numbers in the same slot: past the cap the router stops
    comparing and sends the turn to the LM (each such later turn used to cost about a second)."""
    import time

    table = " ".join(f"x {i}" for i in range(30_000))
    later = [" ".join(f"x {i}" for i in range(k, k + 50)) for k in range(30)]
    started = time.perf_counter()
    assert restates_any([table, *later], start=1) is True
    assert time.perf_counter() - started < 3
    assert MAX_SLOT_COMPARISONS < 30_000


def test_a_long_reply_is_read_once_for_the_turns_after_it():
    """A hostile 900 KB reply, then 255 short user turns (the server's limits): each turn used to reread it."""
    import time

    reply = " ".join(f"Word{i} is here." for i in range(60_000))[:900_000]
    started = time.perf_counter()
    assert answers_any([(reply, f"the q{i} part") for i in range(255)]) is False
    assert time.perf_counter() - started < 5  # about 0.1 s on 2 cores; rereading took about 28 s
