-- MHS101Referral: one row per referral (UniqServReqID). Identical rows are collapsed; a referral given two
-- different ways is set aside. Age at referral: AgeServReferRecDate, else full years from the MPI date of
-- birth, else the MPI AgeRepPeriodEnd. Reads referrals_collapsed (collapse_referrals.sql, the step before).
--
-- How many different versions each referral has: a grouped count joined back, not a window: DuckDB spills an
-- aggregate and a join to disk, and the window held more in memory. A row with a blank UniqServReqID matches
-- nothing and keeps 1; it is set aside for the blank key first anyway.
WITH versions AS (
    SELECT UniqServReqID, COUNT(*) AS _versions
    FROM referrals_collapsed
    GROUP BY UniqServReqID
),
versioned AS (
    SELECT c.*,
           COALESCE(v._versions, 1) AS _versions,
           (YEAR(c.received) - 1900) * 12 + MONTH(c.received) - 3 AS month_id
    FROM referrals_collapsed AS c
    LEFT JOIN versions AS v
        ON v.UniqServReqID = c.UniqServReqID
)
SELECT
    r.UniqServReqID,
    r.Person_ID,
    r.OrgIDProv,
    r.received,
    CAST(DATE_TRUNC('month', r.received) AS DATE) AS period,
    r.month_id,
    r.rejected_on,
    r.priority,
    COALESCE(
        r.age_at_referral,
        YEAR(r.received) - YEAR(p.birth_date)
            - CASE WHEN MONTH(r.received) * 100 + DAY(r.received) < MONTH(p.birth_date) * 100 + DAY(p.birth_date)
                   THEN 1 ELSE 0 END,
        p.age_period_end
    ) AS age,
    r._copies,
    CASE
        WHEN r.UniqServReqID IS NULL THEN 'missing UniqServReqID'
        WHEN r.OrgIDProv IS NULL THEN 'missing OrgIDProv'
        WHEN r.received IS NULL THEN 'invalid date in ReferralRequestReceivedDate'
        WHEN r.rejected_text IS NOT NULL AND r.rejected_on IS NULL THEN 'invalid date in ReferRejectionDate'
        WHEN r.rejected_on < r.received THEN 'rejection before receipt'
        WHEN r.age_text IS NOT NULL AND (r.age_at_referral IS NULL OR r.age_at_referral < 0 OR r.age_at_referral > 130)
            THEN 'invalid AgeServReferRecDate'
        WHEN r._versions > 1 THEN 'conflicting duplicate UniqServReqID'
    END AS _reason,
    CASE
        WHEN r.priority IS NOT NULL AND k.value IS NULL THEN 'unknown ClinRespPriorityType'
    END AS _finding,
    COALESCE(r.UniqServReqID, '(blank)') AS _example
FROM versioned AS r
LEFT JOIN persons AS p
    ON p.Person_ID = r.Person_ID AND p.OrgIDProv = r.OrgIDProv
LEFT JOIN validcodes AS k
    ON k.field = 'ClinRespPriorityType' AND k.list = 'known' AND k.value = r.priority
    AND r.month_id BETWEEN k.first_month AND k.last_month
