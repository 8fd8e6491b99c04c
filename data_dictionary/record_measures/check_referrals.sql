-- MHS101Referral: one row per referral (UniqServReqID). Identical rows are collapsed; a referral given two
-- different ways is set aside. Age at referral: AgeServReferRecDate, else full years from the MPI date of
-- birth, else the MPI AgeRepPeriodEnd.
WITH typed AS (
    SELECT
        NULLIF(TRIM(UniqServReqID), '') AS UniqServReqID,
        NULLIF(TRIM(Person_ID), '') AS Person_ID,
        UPPER(NULLIF(TRIM(OrgIDProv), '')) AS OrgIDProv,
        NULLIF(TRIM(ReferralRequestReceivedDate), '') AS received_text,
        TRY_CAST(NULLIF(TRIM(ReferralRequestReceivedDate), '') AS DATE) AS received,
        NULLIF(TRIM(ReferRejectionDate), '') AS rejected_text,
        TRY_CAST(NULLIF(TRIM(ReferRejectionDate), '') AS DATE) AS rejected_on,
        NULLIF(TRIM(ReferRejectReason), '') AS reject_reason,
        NULLIF(TRIM(ClinRespPriorityType), '') AS priority,
        NULLIF(TRIM(AgeServReferRecDate), '') AS age_text,
        TRY_CAST(NULLIF(TRIM(AgeServReferRecDate), '') AS INTEGER) AS age_at_referral
    FROM mhs101referral_raw
),
collapsed AS (
    SELECT UniqServReqID, Person_ID, OrgIDProv, received_text, received, rejected_text, rejected_on,
           reject_reason, priority, age_text, age_at_referral, COUNT(*) AS _copies
    FROM typed
    GROUP BY UniqServReqID, Person_ID, OrgIDProv, received_text, received, rejected_text, rejected_on,
             reject_reason, priority, age_text, age_at_referral
),
versioned AS (
    SELECT *,
           COUNT(*) OVER (PARTITION BY UniqServReqID) AS _versions,
           (YEAR(received) - 1900) * 12 + MONTH(received) - 3 AS month_id
    FROM collapsed
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
