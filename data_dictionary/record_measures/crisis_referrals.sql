-- CCR70-CCR73: referrals to crisis teams received in the month, emergency (CCR70) or urgent (CCR71), and of
-- those the ones with an attended face-to-face contact in the same month (CCR72, CCR73). NHS England's
-- rules: menh_analysis 90a.Pre_April_2023_Measures.sql with the validcodes of 0.5_VersionChanges.py.
WITH crisis AS (
    SELECT DISTINCT r.OrgIDProv, r.period, r.month_id, r.UniqServReqID, r.priority
    FROM referrals AS r
    JOIN service_types AS s ON s.UniqServReqID = r.UniqServReqID
    JOIN validcodes AS t
        ON t.field = 'ServTeamTypeRefToMH' AND t.list = 'crisis_team' AND t.value = s.team_type
        AND r.month_id BETWEEN t.first_month AND t.last_month
),
seen AS (
    -- (referral, month) pairs with an attended face-to-face contact that month. Each relation here is used
    -- once: Spark recomputes a CTE at every use, so the counts below are made in one pass and unpivoted.
    SELECT DISTINCT k.UniqServReqID, k.month_id
    FROM contacts AS k
    JOIN validcodes AS a
        ON a.field = 'AttendOrDNACode' AND a.list = 'attended' AND a.value = k.attend
    JOIN validcodes AS m
        ON m.field = 'ConsMechanismMH' AND m.list = 'face_to_face' AND m.value = k.mechanism
        AND k.month_id BETWEEN m.first_month AND m.last_month
),
counted AS (
    SELECT
        c.OrgIDProv,
        c.period,
        p.list AS priority_list,
        COUNT(DISTINCT c.UniqServReqID) AS referred,
        COUNT(DISTINCT CASE WHEN z.UniqServReqID IS NOT NULL THEN c.UniqServReqID END) AS seen_face_to_face
    FROM crisis AS c
    JOIN validcodes AS p
        ON p.field = 'ClinRespPriorityType' AND p.list IN ('emergency', 'urgent') AND p.value = c.priority
        AND c.month_id BETWEEN p.first_month AND p.last_month
    LEFT JOIN seen AS z ON z.UniqServReqID = c.UniqServReqID AND z.month_id = c.month_id
    GROUP BY c.OrgIDProv, c.period, p.list
)
-- One row per measure: CCR70/71 for every month with crisis referrals, CCR72/73 where some were seen.
SELECT
    c.OrgIDProv AS org_code,
    c.period,
    CASE
        WHEN k.kind = 'referred' AND c.priority_list = 'emergency' THEN 'CCR70'
        WHEN k.kind = 'referred' THEN 'CCR71'
        WHEN c.priority_list = 'emergency' THEN 'CCR72'
        ELSE 'CCR73'
    END AS measure_id,
    CASE WHEN k.kind = 'referred' THEN c.referred ELSE c.seen_face_to_face END AS numerator,
    CAST(NULL AS BIGINT) AS denominator
FROM counted AS c
CROSS JOIN (VALUES ('referred'), ('seen')) AS k(kind)
WHERE k.kind = 'referred' OR c.seen_face_to_face > 0
