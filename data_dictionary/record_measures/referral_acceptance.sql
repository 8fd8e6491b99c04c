-- REF_ACCEPT: of the adults' referrals to core community teams received in the month (community_referrals),
-- the ones not rejected.
SELECT
    OrgIDProv AS org_code,
    period,
    'REF_ACCEPT' AS measure_id,
    CAST(SUM(1 - rejected) AS BIGINT) AS numerator,
    COUNT(*) AS denominator
FROM community_referrals
GROUP BY OrgIDProv, period
