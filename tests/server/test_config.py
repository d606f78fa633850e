"""Config loading: defaults, interpolation, overrides, and the exact message of each mistake."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from memio.config import (
    ConfigError,
    ServerConfig,
    config_from_dict,
    load_config,
    resolve_config_path,
)
from memio.embeddings import default_embedder
from memio.providers import EXTRAS, PROVIDERS
from memio.server.app import build_memio
from tests.server.conftest import MEMORY_STORES


def problems(raw, env=None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(raw, env=env or {})
    return caught.value.problems


def store_problems(raw, env=None) -> list[str]:
    config = config_from_dict(raw, env=env or {})
    with pytest.raises(ConfigError) as caught:
        build_memio(config, default_embedder())
    return caught.value.problems


def load_text(tmp_path: Path, text: str, env=None) -> ServerConfig:
    path = tmp_path / "memio-server.yaml"
    path.write_text(text)
    return load_config(path, env=env or {})


def test_defaults_are_local_and_offline():
    config = config_from_dict({}, env={})
    assert (config.server.host, config.server.port) == ("127.0.0.1", 8080)
    assert {kind: store.provider for kind, store in config.stores.items()} == {
        "facts": "chroma",
        "history": "sqlite",
        "documents": "chroma",
        "graph": "networkx",
    }
    assert config.embedder.provider == "minilm"
    assert config.data_dir == Path("memio-data")
    assert not config.auth_enabled and not config.rate_limit_enabled
    assert config.server.limits.max_body_bytes == 1024 * 1024
    assert config.server.limits.max_batch_body_bytes == 16 * 1024 * 1024
    assert config.server.limits.request_timeout_seconds == 30
    assert config.server.cors.allow_origins == []


def test_repo_config_serves_the_embedded_defaults():
    repo_file = Path(__file__).parents[2] / "memio-server.yaml"
    config = load_config(repo_file, env={})
    assert {kind: store.provider for kind, store in config.stores.items()} == {
        "facts": "chroma",
        "history": "sqlite",
        "documents": "chroma",
        "graph": "networkx",
    }
    assert config.data_dir == Path("memio-data")
    assert load_config(repo_file, env={"MEMIO_DATA_DIR": "/srv/memio"}).data_dir == Path(
        "/srv/memio"
    )


# --- interpolation -----------------------------------------------------------------------------


def test_variable_is_substituted():
    config = config_from_dict({"data_dir": "${DATA}/memio"}, env={"DATA": "/var/lib"})
    assert config.data_dir == Path("/var/lib/memio")


def test_default_applies_when_unset_or_empty():
    raw = {"data_dir": "${DATA:-/fallback}"}
    assert config_from_dict(raw, env={}).data_dir == Path("/fallback")
    assert config_from_dict(raw, env={"DATA": ""}).data_dir == Path("/fallback")
    assert config_from_dict(raw, env={"DATA": "/set"}).data_dir == Path("/set")


def test_empty_default_is_allowed():
    config = config_from_dict(
        {"stores": {"facts": {"provider": "memory", "config": {"x": "a${NOPE:-}b"}}}}, env={}
    )
    assert config.stores["facts"].config == {"x": "ab"}


def test_interpolation_reaches_lists_numbers_and_provider():
    raw = {
        "server": {"port": "${PORT}", "cors": {"allow_origins": ["https://${HOST}", "x"]}},
        "stores": {"facts": {"provider": "${FACTS_PROVIDER:-memory}"}},
    }
    config = config_from_dict(raw, env={"PORT": "9001", "HOST": "app.example"})
    assert config.server.port == 9001
    assert config.server.cors.allow_origins == ["https://app.example", "x"]
    assert config.stores["facts"].provider == "memory"


def test_several_references_in_one_value():
    config = config_from_dict({"data_dir": "/${A}/${B:-b}/${A}"}, env={"A": "a"})
    assert config.data_dir == Path("/a/b/a")


def test_double_dollar_escapes_a_literal_reference():
    config = config_from_dict(
        {"stores": {"facts": {"provider": "memory", "config": {"t": "$${HOME} and $$x"}}}},
        env={"HOME": "/root"},
    )
    assert config.stores["facts"].config == {"t": "${HOME} and $$x"}


def test_missing_variable_names_it_and_the_key_path():
    raw = {"stores": {"facts": {"provider": "chroma", "config": {"url": "${CHROMA_URL}"}}}}
    assert problems(raw) == [
        "stores.facts.config.url: environment variable CHROMA_URL is not set "
        "(write ${CHROMA_URL:-default} to give a default)"
    ]


def test_every_missing_variable_is_reported_with_list_indexes():
    raw = {"server": {"cors": {"allow_origins": ["${ONE}", "ok", "${TWO}"]}}}
    assert problems(raw) == [
        "server.cors.allow_origins[0]: environment variable ONE is not set "
        "(write ${ONE:-default} to give a default)",
        "server.cors.allow_origins[2]: environment variable TWO is not set "
        "(write ${TWO:-default} to give a default)",
    ]


def test_malformed_reference_is_an_error():
    assert problems({"data_dir": "${not closed"}) == [
        "data_dir: malformed reference in '${not closed' "
        "(expected ${NAME} or ${NAME:-default}; write $${ for a literal ${)"
    ]


# --- file format -------------------------------------------------------------------------------


def test_invalid_yaml_gives_line_and_column(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, "server:\n  host: [127.0.0.1\n  port: 8080\n")
    assert caught.value.problems == [
        "invalid YAML at line 3, column 7: expected ',' or ']', but got ':'"
    ]
    assert caught.value.source == str(tmp_path / "memio-server.yaml")


def test_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, "- a\n- b\n")
    assert caught.value.problems == ["the top level must be a mapping of keys, not list"]


def test_empty_file_means_defaults(tmp_path):
    assert load_text(tmp_path, "# nothing yet\n") == config_from_dict({}, env={})


def test_empty_sections_mean_defaults(tmp_path):
    config = load_text(tmp_path, "server:\n  # port: 9000\n  limits:\nauth:\nembedder:\n")
    assert config == config_from_dict({}, env={})


def test_unknown_key_lists_the_known_ones():
    assert problems({"server": {"prot": 1}}) == [
        "server.prot: unknown key (expected one of: host, port, cors, limits, rate_limit, "
        "ready_timeout_seconds, public_url, cursor_secret, header_timeout_seconds, "
        "keep_alive_seconds, max_connections, expiry, entity_store, entity_store_schema)"
    ]
    assert problems({"stores": {"facts": {"provider": "memory", "confg": {}}}}) == [
        "stores.facts.confg: unknown key (expected one of: provider, config)"
    ]
    assert problems({"auth": {"api_keys": [{"name": "a", "key": "k", "admn": True}]}}) == [
        "auth.api_keys[0].admn: unknown key (expected one of: name, key, sha256, admin, "
        "rate_limit, user_id, agent_id, app_id)"
    ]


def test_wrong_types_name_the_path():
    assert problems({"server": {"port": "eighty"}}) == [
        "server.port: Input should be a valid integer, unable to parse string as an integer"
    ]
    assert problems({"server": {"port": 70000}}) == [
        "server.port: Input should be less than or equal to 65535"
    ]


# --- stores and providers ----------------------------------------------------------------------


def test_unknown_provider_lists_the_known_ones():
    raw = {"stores": {**MEMORY_STORES, "documents": {"provider": "chromaa"}}}
    assert store_problems(raw) == [
        "stores.documents.provider: unknown provider 'chromaa' "
        "(known: chroma, memory, postgres, remote)"
    ]


def test_unknown_store():
    raw = {"stores": {"vectors": {"provider": "memory"}}}
    assert store_problems(raw) == [
        "stores: unknown store 'vectors' (known: facts, history, documents, graph)"
    ]


def test_provider_that_cannot_serve_the_store():
    raw = {"stores": {"graph": {"provider": "sqlite"}}}
    assert store_problems(raw) == [
        "stores.graph.provider: provider 'sqlite' cannot serve the graph store "
        "(providers for graph: memory, networkx, postgres, remote)"
    ]


def test_every_store_problem_is_reported():
    raw = {"stores": {"facts": {"provider": "nope"}, "graph": {"provider": "nada"}}}
    assert store_problems(raw) == [
        "stores.facts.provider: unknown provider 'nope' "
        "(known: chroma, mem0, memory, postgres, remote)",
        "stores.graph.provider: unknown provider 'nada' "
        "(known: memory, networkx, postgres, remote)",
    ]


def test_missing_optional_sdk_is_a_config_error(monkeypatch):
    monkeypatch.setitem(PROVIDERS, "vendorx", {"facts": "memio_test_absent_sdk:Store"})
    monkeypatch.setitem(EXTRAS, "vendorx", "memio[vendorx]")
    assert store_problems({"stores": {"facts": {"provider": "vendorx"}}}) == [
        "stores.facts.provider: the vendorx provider needs packages that are not installed "
        "(memio_test_absent_sdk) (pip install 'memio[vendorx]')"
    ]


def test_provider_config_errors_name_the_store():
    raw = {"stores": {"facts": {"provider": "memory", "config": {"bogus": 1}}}}
    [problem] = store_problems(raw)
    assert problem.startswith("stores.facts.config.bogus: ")


def test_empty_store_config_is_allowed():
    config = config_from_dict({"stores": {"facts": {"provider": "memory", "config": None}}}, env={})
    assert config.stores["facts"].config == {}


# --- server section ----------------------------------------------------------------------------


def test_cors_wildcard_with_credentials_is_refused():
    raw = {"server": {"cors": {"allow_origins": ["*"], "allow_credentials": True}}}
    assert problems(raw) == [
        "server.cors: allow_origins '*' cannot be combined with allow_credentials: true (any site "
        "could then send requests with the user's credentials; list the origins)"
    ]


def test_rate_limits_are_checked():
    assert problems({"server": {"rate_limit": {"limits": ["100/fortnight"]}}}) == [
        "server.rate_limit.limits: invalid rate limit '100/fortnight' "
        "(expected e.g. '100/minute' or '20 per 10 seconds')"
    ]
    assert problems({"server": {"rate_limit": {"storage_uri": "memcached://x:1"}}}) == [
        "server.rate_limit.storage_uri: unsupported storage 'memcached://x:1' "
        "(expected memory:// or redis://host:port)"
    ]
    one = config_from_dict({"server": {"rate_limit": {"limits": "5/second"}}}, env={})
    assert one.server.rate_limit.limits == ["5/second"]


def test_openai_embedder_needs_its_settings():
    assert problems({"embedder": {"provider": "openai", "model": "m"}}) == [
        "embedder: provider openai needs base_url, dimensions"
    ]
    assert problems({"embedder": {"provider": "minilm", "model": "m"}}) == [
        "embedder: base_url, model, api_key and dimensions only apply to provider openai"
    ]
    config = config_from_dict(
        {
            "embedder": {
                "provider": "openai",
                "base_url": "http://127.0.0.1:9/v1",
                "model": "text-embedding-3-small",
                "api_key": "${OPENAI_API_KEY}",
                "dimensions": 1536,
            }
        },
        env={"OPENAI_API_KEY": "sk-test"},
    )
    assert config.embedder.api_key is not None
    assert "sk-test" not in repr(config)


# --- environment and CLI overrides -------------------------------------------------------------


def test_memio_env_overrides_the_file():
    raw = {"server": {"host": "127.0.0.2", "port": 1234}}
    config = config_from_dict(
        raw, env={"MEMIO_HOST": "localhost", "MEMIO_PORT": "9999", "MEMIO_API_KEY": "k"}
    )
    assert (config.server.host, config.server.port) == ("localhost", 9999)
    assert [(key.name, key.admin) for key in config.auth.api_keys] == [("api_key", True)]


def test_cli_flags_override_the_environment():
    config = config_from_dict({}, env={"MEMIO_PORT": "9999"}, host="127.0.0.3", port=7000)
    assert (config.server.host, config.server.port) == ("127.0.0.3", 7000)


def test_bad_env_override_names_the_variable():
    assert problems({}, env={"MEMIO_PORT": "http"}) == [
        "server.port: Input should be a valid integer, unable to parse string as an integer "
        "(set by MEMIO_PORT)"
    ]


def test_empty_api_key_variable_is_an_error():
    assert problems({}, env={"MEMIO_API_KEY": ""}) == [
        "MEMIO_API_KEY: is set but empty (unset it to run without a key)"
    ]


# --- auth --------------------------------------------------------------------------------------


def test_keys_are_kept_only_as_hashes():
    raw = {
        "auth": {
            "api_keys": [{"name": "ci", "key": "plain-secret-1"}],
            "api_key": "plain-secret-2",
        }
    }
    config = config_from_dict(raw, env={})
    assert [key.sha256 for key in config.auth.api_keys] == [
        hashlib.sha256(b"plain-secret-1").hexdigest(),
        hashlib.sha256(b"plain-secret-2").hexdigest(),
    ]
    assert all(key.key is None for key in config.auth.api_keys)
    dumped = config.model_dump_json() + repr(config)
    assert "plain-secret" not in dumped


def test_a_key_may_be_given_as_its_hash():
    digest = hashlib.sha256(b"s3cret").hexdigest().upper()
    config = config_from_dict(
        {"auth": {"api_keys": [{"name": "ops", "sha256": digest, "admin": True}]}}, env={}
    )
    assert config.auth.api_keys[0].sha256 == digest.lower()


def test_key_entries_are_checked():
    assert problems({"auth": {"api_keys": [{"name": "a"}]}}) == [
        "auth.api_keys[0]: give exactly one of key and sha256 (the hex SHA-256 of the key)"
    ]
    assert problems({"auth": {"api_keys": [{"name": "a", "key": ""}]}}) == [
        "auth.api_keys[0]: key must not be empty"
    ]
    assert problems(
        {"auth": {"api_keys": [{"name": "a", "key": "x"}, {"name": "a", "key": "y"}]}}
    ) == ["auth: api_keys: duplicate name 'a'"]
    assert problems(
        {"auth": {"api_keys": [{"name": "a", "key": "x"}, {"name": "b", "key": "x"}]}}
    ) == ["auth: api_keys: two entries have the same key"]


def test_per_key_rate_limits():
    raw = {
        "auth": {
            "api_keys": [
                {"name": "a", "key": "1", "rate_limit": "5/second"},
                {"name": "b", "key": "2", "rate_limit": ["5/second", "50/hour"]},
                {"name": "c", "key": "3", "rate_limit": False},
                {"name": "d", "key": "4"},
            ]
        }
    }
    keys = config_from_dict(raw, env={}).auth.api_keys
    assert [key.rate_limit for key in keys] == [["5/second"], ["5/second", "50/hour"], False, None]
    assert problems({"auth": {"api_keys": [{"name": "a", "key": "1", "rate_limit": "lots"}]}}) == [
        "auth.api_keys[0].rate_limit: invalid rate limit 'lots' "
        "(expected e.g. '100/minute' or '20 per 10 seconds')"
    ]
    assert problems({"auth": {"api_keys": [{"name": "a", "key": "1", "rate_limit": []}]}}) == [
        "auth.api_keys[0].rate_limit: list at least one limit (or write false for none)"
    ]


def test_rate_limiting_follows_auth_unless_configured():
    with_auth = config_from_dict({"auth": {"api_keys": [{"name": "a", "key": "k"}]}}, env={})
    assert with_auth.rate_limit_enabled
    assert not config_from_dict({}, env={}).rate_limit_enabled
    forced = config_from_dict({"server": {"rate_limit": {"enabled": True}}}, env={})
    assert forced.rate_limit_enabled


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "memio.internal"])
def test_non_loopback_host_without_auth_is_refused(host):
    [problem] = problems({"server": {"host": host}})
    assert problem == (
        f"server.host: refusing to listen on {host} without authentication: anyone who can "
        "reach it could read and delete every store. Set MEMIO_API_KEY or auth.api_keys, or set "
        "auth: {disabled: true} if something else guards access"
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.0.1", "::1", "localhost"])
def test_loopback_hosts_need_no_auth(host):
    assert config_from_dict({"server": {"host": host}}, env={}).server.host == host


def test_non_loopback_host_with_auth_or_explicitly_disabled():
    assert config_from_dict({"server": {"host": "0.0.0.0"}}, env={"MEMIO_API_KEY": "k"})
    config = config_from_dict({"server": {"host": "0.0.0.0"}, "auth": {"disabled": True}}, env={})
    assert not config.auth_enabled


def test_disabled_auth_conflicts_with_keys():
    assert problems({"auth": {"disabled": True}}, env={"MEMIO_API_KEY": "k"}) == [
        "auth: disabled: true conflicts with the configured API keys or jwt (remove them, or unset "
        "MEMIO_API_KEY, to run without auth)"
    ]


# --- which file --------------------------------------------------------------------------------


def test_config_path_resolution(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path(None, {}) is None  # no file: built-in defaults
    (tmp_path / "memio-server.yaml").write_text("{}")
    assert resolve_config_path(None, {}) == Path("memio-server.yaml")
    other = tmp_path / "other.yaml"
    other.write_text("{}")
    assert resolve_config_path(None, {"MEMIO_CONFIG": str(other)}) == other
    assert resolve_config_path(str(other), {"MEMIO_CONFIG": "ignored.yaml"}) == other


def test_named_config_file_must_exist(tmp_path):
    missing = tmp_path / "nope.yaml"
    for cli, env in ((str(missing), {}), (None, {"MEMIO_CONFIG": str(missing)})):
        with pytest.raises(ConfigError) as caught:
            resolve_config_path(cli, env)
        assert caught.value.problems == [f"config file {str(missing)!r} not found"]


def test_minilm_compute_is_chosen_in_the_config():
    assert config_from_dict({}, env={}).embedder.compute == "auto"
    assert config_from_dict({"embedder": {"compute": "int8"}}, env={}).embedder.compute == "int8"
    assert problems({"embedder": {"compute": "int4"}})[0].startswith("embedder.compute:")
    openai = {"provider": "openai", "base_url": "http://x/v1", "model": "m", "dimensions": 8}
    assert config_from_dict({"embedder": openai}, env={}).embedder.provider == "openai"
    for compute in ("int8", "auto"):
        assert problems({"embedder": {**openai, "compute": compute}}) == [
            "embedder: compute only applies to provider minilm"
        ]
