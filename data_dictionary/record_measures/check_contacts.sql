-- MHS201CareContact: one row per contact. Contacts of referrals not kept from MHS101Referral, and contacts
-- dated before the referral was received, are set aside. Attendance is AttendOrDNACode (AttendStatus in
-- older submissions).
WITH typed AS (
    SELECT
        NULLIF(TRIM(UniqCareContID), '') AS UniqCareContID,
        NULLIF(TRIM(UniqServReqID), '') AS UniqServReqID,
        NULLIF(TRIM(CareContDate), '') AS contact_text,
        TRY_CAST(NULLIF(TRIM(CareContDate), '') AS DATE) AS contact_date,
        COALESCE(NULLIF(TRIM(AttendOrDNACode), ''), NULLIF(TRIM(AttendStatus), '')) AS attend,
        NULLIF(TRIM(ConsMechanismMH), '') AS mechanism
    FROM mhs201carecontact_raw
),
collapsed AS (
    SELECT UniqCareContID, UniqServReqID, contact_text, contact_date, attend, mechanism, COUNT(*) AS _copies
    FROM typed
    GROUP BY UniqCareContID, UniqServReqID, contact_text, contact_date, attend, mechanism
)
SELECT
    c.UniqCareContID,
    c.UniqServReqID,
    c.contact_date,
    (YEAR(c.contact_date) - 1900) * 12 + MONTH(c.contact_date) - 3 AS month_id,
    c.attend,
    c.mechanism,
    c._copies,
    CASE
        WHEN c.UniqServReqID IS NULL THEN 'missing UniqServReqID'
        WHEN c.contact_date IS NULL THEN 'invalid date in CareContDate'
        WHEN r.UniqServReqID IS NULL THEN 'referral not in MHS101Referral'
        WHEN c.contact_date < r.received THEN 'contact before referral received'
    END AS _reason,
    CASE
        WHEN c.attend IS NOT NULL AND k.value IS NULL THEN 'unknown AttendOrDNACode'
    END AS _finding,
    COALESCE(c.UniqServReqID, '(blank)') AS _example
FROM collapsed AS c
LEFT JOIN referrals AS r
    ON r.UniqServReqID = c.UniqServReqID
LEFT JOIN validcodes AS k
    ON k.field = 'AttendOrDNACode' AND k.list = 'known' AND k.value = c.attend
