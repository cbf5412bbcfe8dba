//! Deployments on a team server: a service runs on the deploying machine, from its working
//! copy, and is recorded on the server for the team to see.

use strata_store::store::{ServiceAddress, WorkspaceStore, push_lock, service_address};
use strata_store::{ServiceRecord, StoreError, Workspace};

/// A service as the server now records it.
#[derive(Debug, Clone)]
pub struct PublishedService {
    pub record: ServiceRecord,
    /// Where the record says it is reached, and why.
    pub address: ServiceAddress,
}

/// Records service `name` of `working_copy` (its current state, a deletion too) on the server
/// behind `records`: the lock it was built from first (the first lock stored wins), then the
/// record, at the address a teammate can reach rather than the one it is bound to: `advertise`
/// when given, the machine's hostname for `0.0.0.0` or `::`, loopback kept as loopback (only
/// this machine reaches it; [`ServiceAddress::Loopback`] lets the caller say so). The working
/// copy keeps the bind address, which is what this machine connects to.
pub async fn publish_service(
    records: &dyn WorkspaceStore,
    working_copy: &Workspace,
    name: &str,
    advertise: Option<&str>,
) -> Result<PublishedService, StoreError> {
    let mut record = working_copy.get_service(name)?;
    push_lock(records, working_copy, &record.env_name, &record.env_version).await?;
    let address = service_address(&record.host, advertise);
    record.host = address.host().to_string();
    records.put_service(&record).await?;
    Ok(PublishedService { record, address })
}
