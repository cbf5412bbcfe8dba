//! Environment labels: one row per label, moved by labelling another version, each change
//! audited in its transaction.

use sqlx::{PgConnection, Row as _};
use strata_spec::EnvironmentVersion;
use strata_store::store::{Cursor, CursorPage};
use strata_store::{EnvironmentLabel, StoreError, label_not_found, validate_label};

use crate::error::db;
use crate::workspace::{PgWorkspace, after, fetch};

impl PgWorkspace {
    pub(crate) async fn label(
        &self,
        name: &str,
        version: &EnvironmentVersion,
        labels: &[String],
    ) -> Result<(), StoreError> {
        for label in labels {
            validate_label(label)?;
        }
        let what = "labelling an environment";
        let mut tx = self.begin(what).await?;
        self.require_environment(&mut tx, name, version).await?;
        for label in labels {
            sqlx::query(
                "INSERT INTO environment_labels (workspace_id, name, label, version, labelled_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (workspace_id, name, label)
                 DO UPDATE SET version = excluded.version, labelled_at = excluded.labelled_at",
            )
            .bind(self.id)
            .bind(name)
            .bind(label)
            .bind(version.as_str())
            .bind(strata_store::now_millis())
            .execute(&mut *tx)
            .await
            .map_err(db(what))?;
            self.audit(
                &mut tx,
                "environment.label",
                &format!("environments/{name}/labels/{label}"),
            )
            .await?;
        }
        tx.commit().await.map_err(db(what))
    }

    pub(crate) async fn labelled(
        &self,
        name: &str,
        label: &str,
    ) -> Result<EnvironmentVersion, StoreError> {
        let what = "reading a label";
        let mut connection = self.pool().acquire().await.map_err(db(what))?;
        self.require_name(&mut connection, name).await?;
        let row = sqlx::query(
            "SELECT version FROM environment_labels
             WHERE workspace_id = $1 AND name = $2 AND label = $3",
        )
        .bind(self.id)
        .bind(name)
        .bind(label)
        .fetch_optional(&mut *connection)
        .await
        .map_err(db(what))?;
        match row {
            Some(row) => Ok(EnvironmentVersion::from_stored(
                row.try_get::<String, _>(0).map_err(db(what))?,
            )),
            None => Err(label_not_found(name, label)),
        }
    }

    pub(crate) async fn labels_page(
        &self,
        name: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CursorPage<EnvironmentLabel>, StoreError> {
        let limit = Cursor::clamp_limit(limit);
        let after = after(cursor)?;
        let what = "listing labels";
        let mut connection = self.pool().acquire().await.map_err(db(what))?;
        self.require_name(&mut connection, name).await?;
        let rows = sqlx::query(
            "SELECT label, version FROM environment_labels
             WHERE workspace_id = $1 AND name = $2 AND ($3::text IS NULL OR label > $3)
             ORDER BY label LIMIT $4",
        )
        .bind(self.id)
        .bind(name)
        .bind(after.as_ref().map(|c| c.key.clone()))
        .bind(fetch(limit))
        .fetch_all(&mut *connection)
        .await
        .map_err(db(what))?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let label: String = row.try_get("label").map_err(db(what))?;
            let version: String = row.try_get("version").map_err(db(what))?;
            let cursor = Cursor::new(label.clone(), 0);
            let version = EnvironmentVersion::from_stored(version);
            items.push((EnvironmentLabel { label, version }, cursor));
        }
        Ok(Cursor::page(items, limit))
    }

    /// Fails like a get when the environment has no version at all.
    async fn require_name(
        &self,
        connection: &mut PgConnection,
        name: &str,
    ) -> Result<(), StoreError> {
        let exists =
            sqlx::query("SELECT 1 FROM environments WHERE workspace_id = $1 AND name = $2 LIMIT 1")
                .bind(self.id)
                .bind(name)
                .fetch_optional(&mut *connection)
                .await
                .map_err(db("reading an environment"))?
                .is_some();
        if exists {
            Ok(())
        } else {
            Err(self.not_found(connection, name, None).await)
        }
    }
}
