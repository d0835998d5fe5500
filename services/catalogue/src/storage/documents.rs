use std::collections::HashMap;

use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;
use zhenggai_common::UnitCode;

use super::code;
use crate::domain::{
    Document, NewAspect, NewDocument, NewMeasure, Problem, ResponsibleScope, ResponsibleUnit,
};
use crate::error::{CatalogueError, Result};

fn seq(value: i32) -> u32 {
    u32::try_from(value).unwrap_or_default()
}

/// Writes a validated notice whole in the caller's transaction, expanding
/// group names of responsible units (各乡镇) through the directory.
pub async fn insert_document(
    tx: &mut PgConnection,
    doc: &NewDocument,
    published_by: &str,
) -> Result<Uuid> {
    let taken: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM documents WHERE doc_number = $1)")
            .bind(&doc.doc_number)
            .fetch_one(&mut *tx)
            .await?;
    if taken {
        return Err(CatalogueError::AlreadyExists(format!(
            "a notice numbered {} is published already",
            doc.doc_number
        )));
    }
    let area_known: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM units WHERE code = $1)")
            .bind(doc.area.as_str())
            .fetch_one(&mut *tx)
            .await?;
    let mut faults = Vec::new();
    if !area_known {
        faults.push(format!("area: {} is not in the unit directory", doc.area));
    }

    let expanded = expand_responsible(tx, doc, &mut faults).await?;
    if !faults.is_empty() {
        return Err(CatalogueError::Invalid(faults));
    }

    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO documents (id, doc_number, title, issuer, issued_on, area, editorial_notes, personal_names, published_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(&doc.doc_number)
    .bind(&doc.title)
    .bind(&doc.issuer)
    .bind(doc.issued_on)
    .bind(doc.area.as_str())
    .bind(sqlx::types::Json(&doc.editorial_notes))
    .bind(sqlx::types::Json(&doc.personal_names))
    .bind(published_by)
    .execute(&mut *tx)
    .await?;

    let aspect_seqs: Vec<i32> = doc.aspects.iter().map(|a| a.seq as i32).collect();
    let aspect_names: Vec<&str> = doc.aspects.iter().map(|a| a.name.as_str()).collect();
    sqlx::query("INSERT INTO aspects (document_id, seq, name) SELECT $1, * FROM UNNEST($2::int[], $3::text[])")
        .bind(id)
        .bind(&aspect_seqs)
        .bind(&aspect_names)
        .execute(&mut *tx)
        .await?;

    let problem_ids: Vec<Uuid> = doc.problems.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO problems (id, document_id, seq, aspect_seq, title, manifestation, responsible_text, due_on, continuing)
         SELECT u.id, $1, u.seq, u.aspect_seq, u.title, u.manifestation, u.responsible_text, u.due_on, u.continuing
           FROM UNNEST($2::uuid[], $3::int[], $4::int[], $5::text[], $6::text[], $7::text[], $8::date[], $9::bool[])
             AS u (id, seq, aspect_seq, title, manifestation, responsible_text, due_on, continuing)",
    )
    .bind(id)
    .bind(&problem_ids)
    .bind(doc.problems.iter().map(|p| p.seq as i32).collect::<Vec<_>>())
    .bind(doc.problems.iter().map(|p| p.aspect_seq as i32).collect::<Vec<_>>())
    .bind(doc.problems.iter().map(|p| p.title.as_str()).collect::<Vec<_>>())
    .bind(doc.problems.iter().map(|p| p.manifestation.as_str()).collect::<Vec<_>>())
    .bind(doc.problems.iter().map(|p| p.responsible_text.as_str()).collect::<Vec<_>>())
    .bind(doc.problems.iter().map(|p| p.due_on).collect::<Vec<_>>())
    .bind(doc.problems.iter().map(|p| p.continuing).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;

    let (mut m_problem, mut m_seq, mut m_text) = (Vec::new(), Vec::new(), Vec::new());
    for (problem, problem_id) in doc.problems.iter().zip(&problem_ids) {
        for measure in &problem.measures {
            m_problem.push(*problem_id);
            m_seq.push(measure.seq as i32);
            m_text.push(measure.text.as_str());
        }
    }
    sqlx::query("INSERT INTO measures (problem_id, seq, text) SELECT * FROM UNNEST($1::uuid[], $2::int[], $3::text[])")
        .bind(&m_problem)
        .bind(&m_seq)
        .bind(&m_text)
        .execute(&mut *tx)
        .await?;

    let (mut u_problem, mut u_code, mut u_lead, mut u_position) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (units, problem_id) in expanded.iter().zip(&problem_ids) {
        for (position, (unit, lead)) in units.iter().enumerate() {
            u_problem.push(*problem_id);
            u_code.push(unit.as_str());
            u_lead.push(*lead);
            u_position.push(position as i32);
        }
    }
    sqlx::query(
        "INSERT INTO problem_units (problem_id, unit_code, lead, position)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::bool[], $4::int[])",
    )
    .bind(&u_problem)
    .bind(&u_code)
    .bind(&u_lead)
    .bind(&u_position)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

/// The responsible units of every problem, groups expanded, lead first, each
/// unit once. Faults (unknown codes, empty groups) are collected.
async fn expand_responsible(
    tx: &mut PgConnection,
    doc: &NewDocument,
    faults: &mut Vec<String>,
) -> Result<Vec<Vec<(UnitCode, bool)>>> {
    let mut groups: HashMap<(String, &'static str), Vec<String>> = HashMap::new();
    for problem in &doc.problems {
        for r in &problem.responsible {
            let key = match r.scope {
                ResponsibleScope::Unit => continue,
                ResponsibleScope::Townships => (r.code.to_string(), "township"),
                ResponsibleScope::Departments => (r.code.to_string(), "department"),
            };
            if let std::collections::hash_map::Entry::Vacant(slot) = groups.entry(key) {
                let members: Vec<String> = sqlx::query_scalar(
                    "SELECT code FROM units WHERE parent_code = $1 AND level = $2 ORDER BY code",
                )
                .bind(&slot.key().0)
                .bind(slot.key().1)
                .fetch_all(&mut *tx)
                .await?;
                slot.insert(members);
            }
        }
    }
    let singles: Vec<String> = doc
        .problems
        .iter()
        .flat_map(|p| &p.responsible)
        .filter(|r| r.scope == ResponsibleScope::Unit)
        .map(|r| r.code.to_string())
        .collect();
    let known: Vec<String> = sqlx::query_scalar("SELECT code FROM units WHERE code = ANY($1)")
        .bind(&singles)
        .fetch_all(&mut *tx)
        .await?;

    let mut expanded = Vec::with_capacity(doc.problems.len());
    for problem in &doc.problems {
        let mut units: Vec<(UnitCode, bool)> = Vec::new();
        let push = |code: UnitCode, lead: bool, units: &mut Vec<(UnitCode, bool)>| {
            if !units.iter().any(|(c, _)| *c == code) {
                units.push((code, lead));
            }
        };
        let mut ordered: Vec<_> = problem.responsible.iter().collect();
        ordered.sort_by_key(|r| !r.lead);
        for r in ordered {
            match r.scope {
                ResponsibleScope::Unit => {
                    if known.iter().any(|k| k == r.code.as_str()) {
                        push(r.code.clone(), r.lead, &mut units);
                    } else {
                        faults.push(format!(
                            "problems[{}].responsible_units: {} is not in the unit directory",
                            problem.seq, r.code
                        ));
                    }
                }
                ResponsibleScope::Townships | ResponsibleScope::Departments => {
                    let level = if r.scope == ResponsibleScope::Townships {
                        "township"
                    } else {
                        "department"
                    };
                    let members = &groups[&(r.code.to_string(), level)];
                    if members.is_empty() {
                        faults.push(format!(
                            "problems[{}].responsible_units: {} has no {level} units in the directory",
                            problem.seq, r.code
                        ));
                    }
                    for member in members {
                        push(code(member.clone())?, false, &mut units);
                    }
                }
            }
        }
        expanded.push(units);
    }
    Ok(expanded)
}

const DOCUMENT_COLUMNS: &str =
    "d.id, d.doc_number, d.title, d.issuer, d.issued_on, d.area, d.editorial_notes, d.personal_names, d.published_at,
    (SELECT count(*) FROM problems p WHERE p.document_id = d.id) AS problem_count";

async fn documents_from_rows(
    pool: &PgPool,
    rows: Vec<sqlx::postgres::PgRow>,
) -> Result<Vec<Document>> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.get("id")).collect();
    let mut aspects: HashMap<Uuid, Vec<NewAspect>> = HashMap::new();
    for row in sqlx::query("SELECT document_id, seq, name FROM aspects WHERE document_id = ANY($1) ORDER BY document_id, seq")
        .bind(&ids)
        .fetch_all(pool)
        .await?
    {
        aspects
            .entry(row.try_get("document_id")?)
            .or_default()
            .push(NewAspect { seq: seq(row.try_get("seq")?), name: row.try_get("name")? });
    }
    rows.into_iter()
        .map(|row| {
            let id: Uuid = row.try_get("id")?;
            let notes: sqlx::types::Json<Vec<String>> = row.try_get("editorial_notes")?;
            let names: sqlx::types::Json<Vec<String>> = row.try_get("personal_names")?;
            Ok(Document {
                id,
                doc_number: row.try_get("doc_number")?,
                title: row.try_get("title")?,
                issuer: row.try_get("issuer")?,
                issued_on: row.try_get("issued_on")?,
                area: code(row.try_get("area")?)?,
                aspects: aspects.remove(&id).unwrap_or_default(),
                problem_count: u32::try_from(row.try_get::<i64, _>("problem_count")?)
                    .unwrap_or_default(),
                editorial_notes: notes.0,
                personal_names: names.0,
                published_at: row.try_get("published_at")?,
            })
        })
        .collect()
}

/// Notices the caller may read: those over an area inside the caller's scope
/// or above the caller's unit. `visible_areas` are the codes above, `scope`
/// the caller's subtree root.
pub async fn list_documents(
    pool: &PgPool,
    scope: &UnitCode,
    above: &[String],
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<Document>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents d
          WHERE (starts_with(d.area, $1) OR d.area = ANY($2))
            AND ($3::uuid IS NULL OR d.id > $3)
          ORDER BY d.id LIMIT $4"
    )))
    .bind(scope.subtree_prefix())
    .bind(above)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    documents_from_rows(pool, rows).await
}

pub async fn get_document(pool: &PgPool, id: Uuid) -> Result<Option<Document>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents d WHERE d.id = $1"
    )))
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(documents_from_rows(pool, rows).await?.pop())
}

pub async fn list_problems(pool: &PgPool, document_id: Uuid) -> Result<Vec<Problem>> {
    load_problems(pool, Some(document_id), None).await
}

pub async fn get_problem(pool: &PgPool, id: Uuid) -> Result<Option<Problem>> {
    Ok(load_problems(pool, None, Some(id)).await?.pop())
}

async fn load_problems(
    pool: &PgPool,
    document_id: Option<Uuid>,
    problem_id: Option<Uuid>,
) -> Result<Vec<Problem>> {
    let rows = sqlx::query(
        "SELECT p.id, p.document_id, p.seq, p.title, p.manifestation, p.responsible_text, p.due_on, p.continuing,
                p.aspect_seq, a.name AS aspect_name, d.area, d.personal_names
           FROM problems p
           JOIN aspects a ON a.document_id = p.document_id AND a.seq = p.aspect_seq
           JOIN documents d ON d.id = p.document_id
          WHERE ($1::uuid IS NULL OR p.document_id = $1) AND ($2::uuid IS NULL OR p.id = $2)
          ORDER BY p.document_id, p.seq",
    )
    .bind(document_id)
    .bind(problem_id)
    .fetch_all(pool)
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|row| row.get("id")).collect();

    let mut measures: HashMap<Uuid, Vec<NewMeasure>> = HashMap::new();
    for row in sqlx::query("SELECT problem_id, seq, text FROM measures WHERE problem_id = ANY($1) ORDER BY problem_id, seq")
        .bind(&ids)
        .fetch_all(pool)
        .await?
    {
        measures
            .entry(row.try_get("problem_id")?)
            .or_default()
            .push(NewMeasure { seq: seq(row.try_get("seq")?), text: row.try_get("text")? });
    }
    let mut units: HashMap<Uuid, Vec<ResponsibleUnit>> = HashMap::new();
    for row in sqlx::query(
        "SELECT pu.problem_id, pu.unit_code, u.name, pu.lead FROM problem_units pu JOIN units u ON u.code = pu.unit_code
          WHERE pu.problem_id = ANY($1) ORDER BY pu.problem_id, pu.position",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?
    {
        units.entry(row.try_get("problem_id")?).or_default().push(ResponsibleUnit {
            code: code(row.try_get("unit_code")?)?,
            name: row.try_get("name")?,
            lead: row.try_get("lead")?,
        });
    }

    rows.into_iter()
        .map(|row| {
            let id: Uuid = row.try_get("id")?;
            Ok(Problem {
                id,
                document_id: row.try_get("document_id")?,
                seq: seq(row.try_get("seq")?),
                title: row.try_get("title")?,
                manifestation: row.try_get("manifestation")?,
                aspect: NewAspect {
                    seq: seq(row.try_get("aspect_seq")?),
                    name: row.try_get("aspect_name")?,
                },
                measures: measures.remove(&id).unwrap_or_default(),
                responsible_units: units.remove(&id).unwrap_or_default(),
                responsible_text: row.try_get("responsible_text")?,
                due_on: row.try_get("due_on")?,
                continuing: row.try_get("continuing")?,
                area: code(row.try_get("area")?)?,
                personal_names: row
                    .try_get::<sqlx::types::Json<Vec<String>>, _>("personal_names")?
                    .0,
            })
        })
        .collect()
}
