"""Signature of ERGO's reset step (Khalid et al., arXiv 2510.14077): the user's turns become one prompt."""

import dspy


class ConsolidateUserTurns(dspy.Signature):
    """A user has given an assistant a task piece by piece over several messages. Rewrite all of those messages
    into one self-contained prompt that states the whole task in a clear, logical order, as if the user had
    written it in one go. Keep every requirement, number, name and quoted value the user gave; when a later
    message changes an earlier one, keep the later version. Do not answer or solve the task, and do not add
    anything the user did not say. Return only the rewritten prompt."""

    user_messages: list[str] = dspy.InputField(desc="The user's messages, oldest first.")
    prompt: str = dspy.OutputField(desc="The consolidated prompt, written in the user's voice.")
