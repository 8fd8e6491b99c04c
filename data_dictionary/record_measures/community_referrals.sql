-- Adults' referrals to core community teams, one row per referral, with whether it was rejected: a
-- rejection date (MHS101 or MHS102 ReferRejectionDate) within rejection_window_days of receipt.
-- Shared by REF_ACCEPT and CMH_4WW, so "accepted" has one definition.
SELECT
    r.OrgIDProv,
    r.period,
    r.UniqServReqID,
    MIN(r.received) AS received,
    MAX(CASE
            WHEN DATE_DIFF('day', r.received, r.rejected_on) <= f.rejection_window_days THEN 1
            WHEN DATE_DIFF('day', r.received, s.rejected_on) <= f.rejection_window_days THEN 1
            ELSE 0
        END) AS rejected
FROM referrals AS r
JOIN service_types AS s ON s.UniqServReqID = r.UniqServReqID
JOIN validcodes AS t
    ON t.field = 'ServTeamTypeRefToMH' AND t.list = 'core_community' AND t.value = s.team_type
    AND r.month_id BETWEEN t.first_month AND t.last_month
CROSS JOIN facts AS f
WHERE r.age >= f.adult_age
GROUP BY r.OrgIDProv, r.period, r.UniqServReqID
