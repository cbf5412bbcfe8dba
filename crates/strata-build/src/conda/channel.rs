//! Channels as written in definitions: names, URLs and local directories.

use std::path::PathBuf;

use rattler_conda_types::{Channel, ChannelConfig};

use super::CondaError;

/// What conda's `defaults` stands for on Linux and macOS.
const DEFAULTS: [&str; 2] = [
    "https://repo.anaconda.com/pkgs/main",
    "https://repo.anaconda.com/pkgs/r",
];

/// A channel as given in the definition together with what it resolves to.
pub(crate) struct ResolvedChannel {
    /// As given, e.g. `conda-forge` or `/data/channel`.
    pub(crate) given: String,
    pub(crate) channel: Channel,
}

impl ResolvedChannel {
    /// The base URL, always ending in `/`.
    pub(crate) fn base_url(&self) -> &str {
        self.channel.base_url.as_str()
    }
}

/// Resolves the channels in order. Each is a name (`conda-forge` →
/// `https://conda.anaconda.org/conda-forge/`; `defaults` → Anaconda's `main` and `r`), an
/// `http(s)://` or `file://` URL, or a directory path (relative ones against the working
/// directory).
pub(crate) fn resolve_channels(given: &[String]) -> Result<Vec<ResolvedChannel>, CondaError> {
    let root_dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let config = ChannelConfig::default_with_root_dir(root_dir);
    let mut channels = Vec::new();
    for given in given {
        let expanded: Vec<&str> = if given == "defaults" {
            DEFAULTS.to_vec()
        } else {
            vec![given.as_str()]
        };
        for channel in expanded {
            let channel = Channel::from_str(channel, &config).map_err(|source| {
                CondaError::InvalidChannel {
                    channel: given.clone(),
                    source,
                }
            })?;
            channels.push(ResolvedChannel {
                given: given.clone(),
                channel,
            });
        }
    }
    Ok(channels)
}

/// The channel (as given) whose base URL is the longest prefix of `url`.
pub(crate) fn channel_of_url<'a>(
    channels: &'a [ResolvedChannel],
    url: &str,
) -> Option<&'a ResolvedChannel> {
    channels
        .iter()
        .filter(|channel| url.starts_with(channel.base_url()))
        .max_by_key(|channel| channel.base_url().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base_urls(given: &[&str]) -> Vec<(String, String)> {
        let given: Vec<String> = given.iter().map(|channel| channel.to_string()).collect();
        resolve_channels(&given)
            .unwrap()
            .iter()
            .map(|channel| (channel.given.clone(), channel.base_url().to_string()))
            .collect()
    }

    #[test]
    fn names_urls_and_paths_resolve_to_base_urls() {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            base_urls(&[
                "conda-forge",
                "https://example.org/channels/x",
                "file:///srv/channel",
                "/srv/local"
            ]),
            pairs(&[
                ("conda-forge", "https://conda.anaconda.org/conda-forge/"),
                (
                    "https://example.org/channels/x",
                    "https://example.org/channels/x/"
                ),
                ("file:///srv/channel", "file:///srv/channel/"),
                ("/srv/local", "file:///srv/local/"),
            ])
        );
        assert_eq!(
            base_urls(&["defaults"]),
            pairs(&[
                ("defaults", "https://repo.anaconda.com/pkgs/main/"),
                ("defaults", "https://repo.anaconda.com/pkgs/r/"),
            ])
        );
    }

    #[test]
    fn a_package_url_maps_to_the_longest_matching_channel() {
        let given = vec![
            "https://example.org/a".to_string(),
            "https://example.org/a/b".to_string(),
        ];
        let channels = resolve_channels(&given).unwrap();
        let url = "https://example.org/a/b/noarch/x-1-0.conda";
        assert_eq!(channel_of_url(&channels, url).unwrap().given, given[1]);
        assert!(channel_of_url(&channels, "https://other.org/noarch/x-1-0.conda").is_none());
    }

    #[test]
    fn an_invalid_channel_is_named() {
        let err = resolve_channels(&["bad:name".to_string()]).err().unwrap();
        assert_eq!(err.to_string(), "Invalid conda channel `bad:name`");
    }
}
