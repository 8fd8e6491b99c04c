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
    SELECT DISTINCT c.UniqServReqID
    FROM crisis AS c
    JOIN contacts AS k ON k.UniqServReqID = c.UniqServReqID AND k.month_id = c.month_id
    JOIN validcodes AS a
        ON a.field = 'AttendOrDNACode' AND a.list = 'attended' AND a.value = k.attend
    JOIN validcodes AS m
        ON m.field = 'ConsMechanismMH' AND m.list = 'face_to_face' AND m.value = k.mechanism
        AND k.month_id BETWEEN m.first_month AND m.last_month
),
classed AS (
    SELECT
        c.OrgIDProv,
        c.period,
        c.UniqServReqID,
        p.list AS priority_list,
        CASE WHEN z.UniqServReqID IS NULL THEN 0 ELSE 1 END AS seen_face_to_face
    FROM crisis AS c
    JOIN validcodes AS p
        ON p.field = 'ClinRespPriorityType' AND p.list IN ('emergency', 'urgent') AND p.value = c.priority
        AND c.month_id BETWEEN p.first_month AND p.last_month
    LEFT JOIN seen AS z ON z.UniqServReqID = c.UniqServReqID
)
SELECT
    OrgIDProv AS org_code,
    period,
    CASE WHEN priority_list = 'emergency' THEN 'CCR70' ELSE 'CCR71' END AS measure_id,
    COUNT(DISTINCT UniqServReqID) AS numerator,
    CAST(NULL AS BIGINT) AS denominator
FROM classed
GROUP BY OrgIDProv, period, priority_list
UNION ALL
SELECT
    OrgIDProv AS org_code,
    period,
    CASE WHEN priority_list = 'emergency' THEN 'CCR72' ELSE 'CCR73' END AS measure_id,
    COUNT(DISTINCT UniqServReqID) AS numerator,
    CAST(NULL AS BIGINT) AS denominator
FROM classed
WHERE seen_face_to_face = 1
GROUP BY OrgIDProv, period, priority_list
