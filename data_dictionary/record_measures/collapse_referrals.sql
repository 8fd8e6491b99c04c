-- MHS101Referral typed, identical rows collapsed (_copies): the first step of check_referrals.sql, kept as
-- the table referrals_collapsed so that its grouping spills to disk on its own.
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
)
SELECT * FROM collapsed
