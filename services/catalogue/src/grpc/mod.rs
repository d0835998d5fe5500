//! The gRPC adapter: checks who may do what, converts messages to domain
//! types at the boundary and back.

mod convert;

use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;
use zhenggai_common::grpc::{MAX_PAGE, caller, page_limit, paged};
use zhenggai_common::{Caller, Role, UnitCode};
use zhenggai_proto::catalogue::v1 as pb;

use crate::domain::{Level, NewDocument, UnitTable};
use crate::error::{CatalogueError, Result};
use crate::storage;

pub(crate) struct CatalogueApi {
    pool: PgPool,
}

impl CatalogueApi {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn unit_code(field: &str, text: &str) -> Result<UnitCode> {
    UnitCode::try_from(text).map_err(|error| CatalogueError::invalid(format!("{field}: {error}")))
}

fn uuid(field: &str, text: &str) -> Result<Uuid> {
    Uuid::parse_str(text)
        .map_err(|_| CatalogueError::invalid(format!("{field}: {text:?} is not a UUID")))
}

/// The code of a unit whose directory entry the caller may see. A malformed
/// code and a unit out of sight are both simply not found.
fn visible_unit(caller: &Caller, text: &str) -> Result<UnitCode> {
    UnitCode::try_from(text)
        .ok()
        .filter(|code| caller.sees_directory_entry(code))
        .ok_or_else(|| CatalogueError::NotFound(format!("unit {text}")))
}

fn require_city_admin(caller: &Caller, action: &str) -> Result<()> {
    if caller.role == Role::CityAdmin {
        Ok(())
    } else {
        Err(CatalogueError::PermissionDenied(format!(
            "only the city office (city_admin) may {action}"
        )))
    }
}

impl CatalogueApi {
    async fn visible_document(&self, caller: &Caller, id: Uuid) -> Result<crate::domain::Document> {
        storage::get_document(&self.pool, id)
            .await?
            .filter(|doc| caller.sees_directory_entry(&doc.area))
            .ok_or_else(|| CatalogueError::NotFound(format!("document {id}")))
    }
}

#[tonic::async_trait]
impl pb::catalogue_service_server::CatalogueService for CatalogueApi {
    async fn publish_document(
        &self,
        request: Request<pb::PublishDocumentRequest>,
    ) -> Result<Response<pb::Document>, Status> {
        let caller = caller(&request)?.clone();
        require_city_admin(&caller, "publish a notice")?;
        let draft = convert::draft_from_request(request.into_inner());
        let doc = NewDocument::try_from(draft).map_err(CatalogueError::Invalid)?;
        if !caller.sees(&doc.area) {
            return Err(CatalogueError::PermissionDenied(format!(
                "area {} lies outside your unit {}",
                doc.area, caller.unit
            ))
            .into());
        }
        let mut tx = self.pool.begin().await.map_err(CatalogueError::from)?;
        let id = storage::insert_document(&mut tx, &doc, &caller.username).await?;
        tx.commit().await.map_err(CatalogueError::from)?;
        tracing::info!(%id, doc_number = %doc.doc_number, problems = doc.problems.len(), "notice published");
        let published = self.visible_document(&caller, id).await?;
        Ok(Response::new(convert::document(published, &caller)))
    }

    async fn list_documents(
        &self,
        request: Request<pb::ListDocumentsRequest>,
    ) -> Result<Response<pb::ListDocumentsResponse>, Status> {
        let caller = caller(&request)?.clone();
        let request = request.into_inner();
        let limit = page_limit(request.limit);
        let after = match request.cursor.as_str() {
            "" => None,
            cursor => Some(uuid("cursor", cursor)?),
        };
        let above: Vec<String> = caller
            .unit
            .lineage()
            .into_iter()
            .map(String::from)
            .collect();
        let docs =
            storage::list_documents(&self.pool, &caller.scope(), &above, after, limit + 1).await?;
        Ok(Response::new(paged(
            docs,
            limit,
            |doc| doc.id.to_string(),
            |doc| convert::document(doc, &caller),
            |items, next_cursor| pb::ListDocumentsResponse { items, next_cursor },
        )))
    }

    async fn get_document(
        &self,
        request: Request<pb::GetDocumentRequest>,
    ) -> Result<Response<pb::Document>, Status> {
        let caller = caller(&request)?;
        let id = uuid("id", &request.get_ref().id)
            .map_err(|_| CatalogueError::NotFound("document".into()))?;
        Ok(Response::new(convert::document(
            self.visible_document(caller, id).await?,
            caller,
        )))
    }

    async fn list_problems(
        &self,
        request: Request<pb::ListProblemsRequest>,
    ) -> Result<Response<pb::ListProblemsResponse>, Status> {
        let caller = caller(&request)?;
        let id = uuid("document_id", &request.get_ref().document_id)
            .map_err(|_| CatalogueError::NotFound("document".into()))?;
        self.visible_document(caller, id).await?;
        let problems = storage::list_problems(&self.pool, id).await?;
        Ok(Response::new(pb::ListProblemsResponse {
            items: problems
                .into_iter()
                .map(|problem| convert::problem(problem, caller))
                .collect(),
        }))
    }

    async fn get_problem(
        &self,
        request: Request<pb::GetProblemRequest>,
    ) -> Result<Response<pb::Problem>, Status> {
        let caller = caller(&request)?;
        let id = uuid("id", &request.get_ref().id)
            .map_err(|_| CatalogueError::NotFound("problem".into()))?;
        let problem = storage::get_problem(&self.pool, id)
            .await?
            .filter(|problem| caller.sees_directory_entry(&problem.area))
            .ok_or_else(|| CatalogueError::NotFound(format!("problem {id}")))?;
        Ok(Response::new(convert::problem(problem, caller)))
    }

    async fn get_unit(
        &self,
        request: Request<pb::GetUnitRequest>,
    ) -> Result<Response<pb::Unit>, Status> {
        let code = visible_unit(caller(&request)?, &request.get_ref().code)?;
        let unit = storage::get_unit(&self.pool, &code)
            .await?
            .ok_or_else(|| CatalogueError::NotFound(format!("unit {code}")))?;
        Ok(Response::new(convert::unit(unit)))
    }

    async fn get_units(
        &self,
        request: Request<pb::GetUnitsRequest>,
    ) -> Result<Response<pb::ListUnitsResponse>, Status> {
        let caller = caller(&request)?;
        if request.get_ref().codes.len() > MAX_PAGE as usize {
            return Err(
                CatalogueError::invalid(format!("at most {MAX_PAGE} codes at once")).into(),
            );
        }
        let visible: Vec<String> = request
            .get_ref()
            .codes
            .iter()
            .filter_map(|code| UnitCode::try_from(code.as_str()).ok())
            .filter(|code| caller.sees_directory_entry(code))
            .map(String::from)
            .collect();
        let units = storage::get_units(&self.pool, &visible).await?;
        Ok(Response::new(pb::ListUnitsResponse {
            items: units.into_iter().map(convert::unit).collect(),
            next_cursor: String::new(),
        }))
    }

    async fn list_units(
        &self,
        request: Request<pb::ListUnitsRequest>,
    ) -> Result<Response<pb::ListUnitsResponse>, Status> {
        let caller = caller(&request)?.clone();
        let request = request.into_inner();
        let parent = match request.parent_code.as_str() {
            "" => caller.scope(),
            text => unit_code("parent", text)?,
        };
        if !caller.sees(&parent) {
            return Err(CatalogueError::NotFound(format!("unit {parent}")).into());
        }
        let level = match request.level.as_str() {
            "" => None,
            text => Some(text.parse::<Level>().map_err(CatalogueError::invalid)?),
        };
        let limit = page_limit(request.limit);
        let query = storage::UnitQuery {
            parent,
            level,
            subtree: request.subtree,
            after: Some(request.cursor).filter(|cursor| !cursor.is_empty()),
            limit: limit + 1,
        };
        let units = storage::list_units(&self.pool, &query).await?;
        Ok(Response::new(paged(
            units,
            limit,
            |unit| unit.code.to_string(),
            convert::unit,
            |items, next_cursor| pb::ListUnitsResponse { items, next_cursor },
        )))
    }

    type StreamUnitsStream = std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<pb::UnitBatch, Status>> + Send + 'static>,
    >;

    async fn stream_units(
        &self,
        request: Request<pb::StreamUnitsRequest>,
    ) -> Result<Response<Self::StreamUnitsStream>, Status> {
        use futures::StreamExt as _;
        let caller = caller(&request)?.clone();
        let request = request.into_inner();
        let root = unit_code("root", &request.root)?;
        if !caller.sees(&root) {
            return Err(CatalogueError::NotFound(format!("unit {root}")).into());
        }
        let levels = request
            .levels
            .iter()
            .map(|text| text.parse::<Level>().map_err(CatalogueError::invalid))
            .collect::<Result<Vec<_>>>()?;
        let (sink, source) = tokio::sync::mpsc::channel(4);
        let pool = self.pool.clone();
        tokio::spawn(async move {
            storage::stream_subtree(&pool, &root, &levels, 5_000, sink).await;
        });
        let batches = tokio_stream::wrappers::ReceiverStream::new(source).map(|batch| {
            batch
                .map(|units| pb::UnitBatch {
                    items: units.into_iter().map(convert::unit).collect(),
                })
                .map_err(Status::from)
        });
        Ok(Response::new(Box::pin(batches)))
    }

    async fn get_ancestors(
        &self,
        request: Request<pb::GetUnitRequest>,
    ) -> Result<Response<pb::ListUnitsResponse>, Status> {
        let code = visible_unit(caller(&request)?, &request.get_ref().code)?;
        let units = storage::ancestors(&self.pool, &code).await?;
        Ok(Response::new(pb::ListUnitsResponse {
            items: units.into_iter().map(convert::unit).collect(),
            next_cursor: String::new(),
        }))
    }

    async fn import_units(
        &self,
        request: Request<pb::ImportUnitsRequest>,
    ) -> Result<Response<pb::ImportUnitsResponse>, Status> {
        let caller = caller(&request)?.clone();
        require_city_admin(&caller, "import the unit directory")?;
        let table =
            UnitTable::parse_csv(&request.get_ref().csv).map_err(CatalogueError::Invalid)?;
        let mut tx = self.pool.begin().await.map_err(CatalogueError::from)?;
        let counts = storage::upsert_units(&mut tx, &table, Some(&caller.scope())).await?;
        tx.commit().await.map_err(CatalogueError::from)?;
        tracing::info!(rows = table.units.len(), ?counts, by = %caller.username, "directory imported");
        Ok(Response::new(pb::ImportUnitsResponse {
            inserted: counts.inserted,
            updated: counts.updated,
            unchanged: counts.unchanged,
        }))
    }
}
