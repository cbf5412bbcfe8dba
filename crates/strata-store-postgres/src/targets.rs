//! Compute targets: one row per attached target, each attach and detach audited in its
//! transaction; the built-in `local` and `container` are answered without a row.

use sqlx::Row as _;
use sqlx::postgres::PgRow;
use strata_store::store::{Cursor, CursorPage};
use strata_store::{
    StoreError, TargetRecord, builtin_not_detachable, builtin_target, target_exists,
    target_not_found, validate_target_name,
};

use crate::error::{db, is_unique_violation};
use crate::workspace::{PgWorkspace, after, fetch};

const TARGET_COLUMNS: &str = "name, kind, settings::text AS settings, created_at";

fn row_to_target(row: &PgRow) -> Result<TargetRecord, StoreError> {
    let what = "reading a compute target";
    let settings: String = row.try_get("settings").map_err(db(what))?;
    Ok(TargetRecord {
        name: row.try_get("name").map_err(db(what))?,
        kind: row.try_get("kind").map_err(db(what))?,
        settings: serde_json::from_str(&settings).unwrap_or(serde_json::Value::Null),
        builtin: false,
        created_at: row.try_get("created_at").map_err(db(what))?,
    })
}

impl PgWorkspace {
    pub(crate) async fn target_attach(
        &self,
        name: &str,
        kind: &str,
        settings: &serde_json::Value,
    ) -> Result<TargetRecord, StoreError> {
        validate_target_name(name)?;
        if builtin_target(name).is_some() {
            return Err(target_exists(name));
        }
        let what = "recording a compute target";
        let created_at = strata_store::now_millis();
        let mut tx = self.begin(what).await?;
        let inserted = sqlx::query(
            "INSERT INTO compute_targets (workspace_id, name, kind, settings, created_at)
             VALUES ($1, $2, $3, $4::jsonb, $5)",
        )
        .bind(self.id)
        .bind(name)
        .bind(kind)
        .bind(settings.to_string())
        .bind(created_at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => return Err(target_exists(name)),
            Err(error) => return Err(db(what)(error)),
        }
        self.audit(&mut tx, "target.attach", &format!("targets/{name}"))
            .await?;
        tx.commit().await.map_err(db(what))?;
        Ok(TargetRecord {
            name: name.to_string(),
            kind: kind.to_string(),
            settings: settings.clone(),
            builtin: false,
            created_at,
        })
    }

    pub(crate) async fn target(&self, name: &str) -> Result<TargetRecord, StoreError> {
        if let Some(target) = builtin_target(name) {
            return Ok(target);
        }
        let sql = format!(
            "SELECT {TARGET_COLUMNS} FROM compute_targets WHERE workspace_id = $1 AND name = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(db("reading a compute target"))?
            .ok_or_else(|| target_not_found(name))?;
        row_to_target(&row)
    }

    pub(crate) async fn targets(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<TargetRecord>, StoreError> {
        let limit = Cursor::clamp_limit(limit);
        let after = after(cursor)?.map(|c| c.key);
        let sql = format!(
            "SELECT {TARGET_COLUMNS} FROM compute_targets WHERE workspace_id = $1
               AND ($2::text IS NULL OR name > $2) ORDER BY name LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(after)
            .bind(fetch(limit))
            .fetch_all(self.pool())
            .await
            .map_err(db("listing compute targets"))?;
        let mut page = Vec::with_capacity(rows.len());
        for row in &rows {
            let target = row_to_target(row)?;
            let cursor = Cursor::new(target.name.clone(), 0);
            page.push((target, cursor));
        }
        Ok(Cursor::page(page, limit))
    }

    pub(crate) async fn target_detach(&self, name: &str) -> Result<(), StoreError> {
        if builtin_target(name).is_some() {
            return Err(builtin_not_detachable(name));
        }
        let what = "removing a compute target";
        let mut tx = self.begin(what).await?;
        let removed =
            sqlx::query("DELETE FROM compute_targets WHERE workspace_id = $1 AND name = $2")
                .bind(self.id)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(db(what))?
                .rows_affected();
        if removed == 0 {
            return Err(target_not_found(name));
        }
        self.audit(&mut tx, "target.detach", &format!("targets/{name}"))
            .await?;
        tx.commit().await.map_err(db(what))
    }
}
