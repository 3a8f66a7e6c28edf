CREATE TABLE doctor (
    doctor_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    specialty TEXT NOT NULL,
    hired_year INTEGER NOT NULL
);
CREATE TABLE patient (
    patient_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    city TEXT NOT NULL,
    birth_year INTEGER NOT NULL
);
CREATE TABLE visit (
    visit_id INTEGER PRIMARY KEY,
    doctor_id INTEGER NOT NULL REFERENCES doctor(doctor_id),
    patient_id INTEGER NOT NULL REFERENCES patient(patient_id),
    visit_date TEXT NOT NULL,
    fee REAL NOT NULL
);
INSERT INTO doctor VALUES (1, 'Dr. Okafor', 'cardiology', 2011), (2, 'Dr. Varga', 'pediatrics', 2016),
    (3, 'Dr. Haddad', 'dermatology', 2019), (4, 'Dr. Silva', 'cardiology', 2021);
INSERT INTO patient VALUES (1, 'Lea Roux', 'Lyon', 1988), (2, 'Sam Osei', 'Accra', 2012),
    (3, 'Yuki Mori', 'Lyon', 1955), (4, 'Ben Adler', 'Graz', 1970), (5, 'Mia Costa', 'Porto', 2015);
INSERT INTO visit VALUES
    (1, 1, 3, '2024-04-02', 120.0), (2, 2, 2, '2024-04-03', 60.0), (3, 1, 4, '2024-04-05', 120.0),
    (4, 3, 1, '2024-04-09', 80.0), (5, 2, 5, '2024-04-10', 60.0), (6, 4, 3, '2024-05-01', 110.0),
    (7, 1, 3, '2024-05-15', 120.0), (8, 3, 4, '2024-05-20', 95.0);
