//! [`Layer`]: one figment provider per configuration source, named after its origin.

use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};
use serde_json::Value as Json;

/// Already-parsed configuration data from one source. Its metadata name is the origin
/// shown to users (`default`, `file ./db.json`, `env var DB_POSTGRES_PORT`,
/// `DATABASE_URL`), which `Figment::find_metadata` returns for every value it supplied.
#[derive(Clone)]
pub(crate) struct Layer {
    name: String,
    data: Dict,
}

impl Layer {
    /// A layer named `name` holding `data`, a JSON object (`{"database": {...}}`).
    pub(crate) fn new(name: impl Into<String>, data: Json) -> Self {
        let data = match Value::serialize(data) {
            Ok(Value::Dict(_, dict)) => dict,
            // Only objects are built here; anything else contributes nothing.
            _ => Dict::new(),
        };
        Layer::from_dict(name, data)
    }

    /// A layer named `name` holding `data`.
    pub(crate) fn from_dict(name: impl Into<String>, data: Dict) -> Self {
        Layer {
            name: name.into(),
            data,
        }
    }

    /// The origin name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Debug for Layer {
    /// The origin only: the data may hold passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layer")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        Ok(Map::from([(Profile::Default, self.data.clone())]))
    }
}

/// `{"database": {"postgres": {"port": value}}}` from `database.postgres.port` and `value`.
pub(crate) fn nested(path: &str, value: Json) -> Json {
    path.rsplit('.').fold(value, |inner, key| {
        let mut map = serde_json::Map::new();
        map.insert(key.to_owned(), inner);
        Json::Object(map)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_builds_objects() {
        assert_eq!(
            nested("a.b.c", Json::from(1)),
            serde_json::json!({"a": {"b": {"c": 1}}})
        );
    }
}
