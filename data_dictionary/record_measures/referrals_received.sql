-- MHS32: referrals received in the month, every team type and age.
SELECT
    OrgIDProv AS org_code,
    period,
    'MHS32' AS measure_id,
    COUNT(DISTINCT UniqServReqID) AS numerator,
    CAST(NULL AS BIGINT) AS denominator
FROM referrals
GROUP BY OrgIDProv, period
