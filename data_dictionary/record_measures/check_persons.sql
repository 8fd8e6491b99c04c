-- MHS001MPI: one row per person and provider. Identical rows are collapsed (_copies); a person given two
-- different ways is set aside (nobody can tell which is right).
WITH typed AS (
    SELECT
        NULLIF(TRIM(Person_ID), '') AS Person_ID,
        UPPER(NULLIF(TRIM(OrgIDProv), '')) AS OrgIDProv,
        NULLIF(TRIM(AgeRepPeriodEnd), '') AS age_text,
        TRY_CAST(NULLIF(TRIM(AgeRepPeriodEnd), '') AS INTEGER) AS age_period_end,
        NULLIF(TRIM(PersonBirthDate), '') AS birth_text,
        TRY_CAST(NULLIF(TRIM(PersonBirthDate), '') AS DATE) AS birth_date
    FROM mhs001mpi_raw
),
collapsed AS (
    SELECT Person_ID, OrgIDProv, age_text, age_period_end, birth_text, birth_date, COUNT(*) AS _copies
    FROM typed
    GROUP BY Person_ID, OrgIDProv, age_text, age_period_end, birth_text, birth_date
),
-- How many different versions each person has: a grouped count joined back, not a window: DuckDB spills an
-- aggregate and a join to disk, and the window held more in memory.
-- A row with a blank key matches nothing and keeps 1; it is set aside for the blank key first anyway.
versions AS (
    SELECT Person_ID, OrgIDProv, COUNT(*) AS _versions
    FROM collapsed
    GROUP BY Person_ID, OrgIDProv
),
versioned AS (
    SELECT c.*, COALESCE(v._versions, 1) AS _versions
    FROM collapsed AS c
    LEFT JOIN versions AS v
        ON v.Person_ID = c.Person_ID AND v.OrgIDProv = c.OrgIDProv
)
SELECT
    Person_ID,
    OrgIDProv,
    age_period_end,
    birth_date,
    _copies,
    CASE
        WHEN Person_ID IS NULL THEN 'missing Person_ID'
        WHEN OrgIDProv IS NULL THEN 'missing OrgIDProv'
        WHEN age_text IS NOT NULL AND (age_period_end IS NULL OR age_period_end < 0 OR age_period_end > 130)
            THEN 'invalid AgeRepPeriodEnd'
        WHEN birth_text IS NOT NULL AND birth_date IS NULL THEN 'invalid date in PersonBirthDate'
        WHEN _versions > 1 THEN 'conflicting duplicate Person_ID'
    END AS _reason,
    CAST(NULL AS VARCHAR) AS _finding,
    COALESCE(Person_ID, '(blank)') AS _example
FROM versioned
