-- MHS102ServiceTypeReferredTo: the team(s) a referral was made to. Rows of referrals not kept from
-- MHS101Referral are set aside; a rejection dated before the referral was received is set aside.
WITH typed AS (
    SELECT
        NULLIF(TRIM(UniqServReqID), '') AS UniqServReqID,
        UPPER(NULLIF(TRIM(ServTeamTypeRefToMH), '')) AS team_type,
        NULLIF(TRIM(ReferRejectionDate), '') AS rejected_text,
        TRY_CAST(NULLIF(TRIM(ReferRejectionDate), '') AS DATE) AS rejected_on,
        NULLIF(TRIM(ReferClosureDate), '') AS closed_text,
        TRY_CAST(NULLIF(TRIM(ReferClosureDate), '') AS DATE) AS closed_on
    FROM mhs102servicetypereferredto_raw
),
collapsed AS (
    SELECT UniqServReqID, team_type, rejected_text, rejected_on, closed_text, closed_on, COUNT(*) AS _copies
    FROM typed
    GROUP BY UniqServReqID, team_type, rejected_text, rejected_on, closed_text, closed_on
)
SELECT
    s.UniqServReqID,
    s.team_type,
    s.rejected_on,
    s.closed_on,
    s._copies,
    CASE
        WHEN s.UniqServReqID IS NULL THEN 'missing UniqServReqID'
        WHEN s.team_type IS NULL THEN 'missing ServTeamTypeRefToMH'
        WHEN s.rejected_text IS NOT NULL AND s.rejected_on IS NULL THEN 'invalid date in ReferRejectionDate'
        WHEN s.closed_text IS NOT NULL AND s.closed_on IS NULL THEN 'invalid date in ReferClosureDate'
        WHEN r.UniqServReqID IS NULL THEN 'referral not in MHS101Referral'
        WHEN s.rejected_on < r.received THEN 'rejection before receipt'
    END AS _reason,
    CASE
        WHEN NOT REGEXP_MATCHES(s.team_type, '^[A-Z][0-9][0-9]$') THEN 'unknown ServTeamTypeRefToMH'
    END AS _finding,
    COALESCE(s.UniqServReqID, '(blank)') AS _example
FROM collapsed AS s
LEFT JOIN referrals AS r
    ON r.UniqServReqID = s.UniqServReqID
