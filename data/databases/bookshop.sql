CREATE TABLE author (
    author_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    country TEXT NOT NULL,
    birth_year INTEGER
);
CREATE TABLE book (
    book_id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    author_id INTEGER NOT NULL REFERENCES author(author_id),
    genre TEXT NOT NULL,
    price REAL NOT NULL,
    published INTEGER NOT NULL
);
CREATE TABLE sale (
    sale_id INTEGER PRIMARY KEY,
    book_id INTEGER NOT NULL REFERENCES book(book_id),
    quantity INTEGER NOT NULL,
    sale_date TEXT NOT NULL
);
INSERT INTO author VALUES (1, 'Ines Duarte', 'Portugal', 1971), (2, 'Kofi Mensah', 'Ghana', 1985),
    (3, 'Mara Lind', 'Sweden', 1962), (4, 'Hugo Brandt', 'Germany', 1990), (5, 'Aiko Sato', 'Japan', 1978);
INSERT INTO book VALUES
    (1, 'Salt and Harbour', 1, 'fiction', 18.5, 2015), (2, 'The Quiet Ledger', 1, 'mystery', 12.0, 2019),
    (3, 'Gold Coast Nights', 2, 'fiction', 15.0, 2021), (4, 'Counting Rivers', 2, 'science', 22.0, 2018),
    (5, 'Northern Glass', 3, 'mystery', 9.99, 2003), (6, 'Winter Arithmetic', 3, 'science', 30.0, 2010),
    (7, 'Small Engines', 4, 'science', 25.5, 2022), (8, 'Paper Lanterns', 5, 'fiction', 14.25, 2012),
    (9, 'The Last Tram', 5, 'mystery', 11.0, 2020);
INSERT INTO sale VALUES
    (1, 1, 3, '2024-01-05'), (2, 2, 1, '2024-01-06'), (3, 3, 5, '2024-01-06'), (4, 5, 2, '2024-01-07'),
    (5, 1, 4, '2024-02-01'), (6, 8, 6, '2024-02-03'), (7, 9, 2, '2024-02-10'), (8, 6, 1, '2024-02-11'),
    (9, 3, 2, '2024-03-01'), (10, 7, 3, '2024-03-02'), (11, 2, 2, '2024-03-05'), (12, 8, 1, '2024-03-09');
