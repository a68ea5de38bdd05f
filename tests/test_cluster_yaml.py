"""The cluster launcher YAMLs pass Ray's own validation, offline, with the Ray pinned here.

`ray up` has no dry-run and needs cloud credentials, so this is the only check the YAMLs get before
someone pays for instances. prepare_config + validate_config are what `ray up` runs first (minus the
provider's bootstrap, which talks to AWS); Ray's own tests call them the same way.
"""

import copy
import re
import socket
from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[1]
AWS_YAML = ROOT / "cluster.yaml"
LOCAL_YAML = ROOT / "cluster.local.yaml"
ALL_YAMLS = [AWS_YAML, LOCAL_YAML]


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def prepared(path: Path) -> dict:
    return prepare_config(copy.deepcopy(load(path)))


def pinned_ray_version() -> str:
    # Any extras: the lead may switch ray[tune] to ray[default,tune].
    text = (ROOT / "requirements.txt").read_text()
    match = re.search(r"^\s*ray\[[^\]]*\]\s*==\s*([0-9][^\s;#]*)", text, flags=re.MULTILINE)
    assert match, "requirements.txt has no ray[...]==X pin"
    return match.group(1)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Validation must stay offline: a config change that makes it call AWS would hang CI."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access during cluster YAML validation: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.mark.parametrize("path", ALL_YAMLS, ids=lambda p: p.name)
def test_yaml_passes_ray_validation(path):
    validate_config(prepared(path))


@pytest.mark.parametrize("path", ALL_YAMLS, ids=lambda p: p.name)
def test_unknown_top_level_key_is_rejected(path):
    broken = load(path)
    broken["max_wrokers"] = 3
    with pytest.raises(jsonschema.ValidationError, match="max_wrokers"):
        validate_config(prepare_config(broken))


def test_fractional_node_resources_are_rejected():
    # Fractions belong to --gpus-per-trial, not to node types: Ray's schema wants integers.
    broken = load(AWS_YAML)
    broken["available_node_types"]["gpu_worker"]["resources"] = {"GPU": 0.5}
    with pytest.raises(jsonschema.ValidationError):
        validate_config(prepare_config(broken))


def test_head_offers_no_cpu_or_gpu_to_trials():
    cfg = prepared(AWS_YAML)
    head = cfg["available_node_types"][cfg["head_node_type"]]
    assert head["resources"].get("CPU") == 0
    assert head["resources"].get("GPU") == 0
    start = " ".join(cfg["head_start_ray_commands"])
    assert "--num-cpus=0" in start and "--num-gpus=0" in start


def test_gpu_workers_autoscale_from_zero():
    cfg = prepared(AWS_YAML)
    workers = {k: v for k, v in cfg["available_node_types"].items() if k != cfg["head_node_type"]}
    assert workers, "cluster.yaml has no worker node type"
    for name, node_type in workers.items():
        assert node_type["min_workers"] == 0, name
        assert node_type["max_workers"] >= 1, name
        assert node_type["node_config"]["InstanceType"].startswith(("g", "p")), name


def test_docker_images_match_pinned_ray_version():
    version = pinned_ray_version()
    docker = load(AWS_YAML)["docker"]
    images = [docker[k] for k in ("image", "head_image", "worker_image") if k in docker]
    assert images
    for image in images:
        assert image.startswith(f"rayproject/ray:{version}-"), (image, version)
    assert docker.get("worker_image", docker["image"]).endswith("-gpu")


@pytest.mark.parametrize("path", ALL_YAMLS, ids=lambda p: p.name)
def test_extra_ray_pins_match_requirements(path):
    version = pinned_ray_version()
    for command in prepared(path)["setup_commands"]:
        for pin in re.findall(r"ray\[[^\]]*\]==([0-9][\w.]*)", command):
            assert pin == version, command


@pytest.mark.parametrize("path", ALL_YAMLS, ids=lambda p: p.name)
def test_setup_installs_requirements_then_prefetches_models(path):
    raw = load(path)
    mount = next(remote for remote, local in raw["file_mounts"].items() if local == ".")
    commands = prepared(path)["setup_commands"]

    install = [i for i, c in enumerate(commands) if re.search(r"pip install .*-r requirements\.txt", c)]
    assert install, commands
    # `-e .` inside requirements.txt resolves against the working directory, not the file.
    assert f"cd {mount}" in commands[install[0]]

    prefetch = [i for i, c in enumerate(commands) if "python -m tune.prefetch --space" in c]
    assert prefetch and prefetch[0] > install[0], commands


@pytest.mark.parametrize("path", ALL_YAMLS, ids=lambda p: p.name)
def test_trials_run_with_the_hub_offline(path):
    cfg = prepared(path)
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        ray_start = next(c for c in cfg[key] if "ray start" in c)
        assert "HF_HUB_OFFLINE=1" in ray_start.split("ray start")[0], (key, ray_start)
