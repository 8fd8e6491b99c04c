-- CMH_4WW: of the adults' accepted referrals to core community teams received in the month, the share whose
-- second attended contact (a wait-list contact mechanism) is within wait_days of receipt. Months whose
-- referrals have not all had wait_days by the latest contact in the extract are left out.
WITH accepted AS (
    SELECT OrgIDProv, period, UniqServReqID, received FROM community_referrals WHERE rejected = 0
),
counted AS (
    SELECT
        k.UniqServReqID,
        k.contact_date,
        ROW_NUMBER() OVER (PARTITION BY k.UniqServReqID ORDER BY k.contact_date, k.UniqCareContID) AS nth
    FROM contacts AS k
    JOIN validcodes AS a ON a.field = 'AttendOrDNACode' AND a.list = 'attended' AND a.value = k.attend
    JOIN validcodes AS m
        ON m.field = 'ConsMechanismMH' AND m.list = 'wait_contact' AND m.value = k.mechanism
        AND k.month_id BETWEEN m.first_month AND m.last_month
),
complete AS (
    SELECT MAX(contact_date) AS last_contact FROM contacts
)
SELECT
    a.OrgIDProv AS org_code,
    a.period,
    'CMH_4WW' AS measure_id,
    CAST(SUM(CASE WHEN DATE_DIFF('day', a.received, c.contact_date) <= f.wait_days THEN 1 ELSE 0 END) AS BIGINT)
        AS numerator,
    COUNT(*) AS denominator
FROM accepted AS a
CROSS JOIN facts AS f
CROSS JOIN complete AS e
LEFT JOIN counted AS c ON c.UniqServReqID = a.UniqServReqID AND c.nth = 2
WHERE DATE_DIFF('day', a.period, e.last_contact) >= 31 + f.wait_days
GROUP BY a.OrgIDProv, a.period
