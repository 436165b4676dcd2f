"""cluster/: the launcher YAML passes Ray's own schema, the RayJob and runtime env make sense.

Nothing is launched: the checks are the ones Ray itself runs before `ray up` (its JSON
schema, shipped in the wheel, and ``prepare_config``/``validate_config``), plus Ray's own
working_dir packaging applied to the runtime env, so an exclude pattern that would drop
part of the package fails here rather than on a cluster.
"""

import json
import re
import zipfile
from pathlib import Path

import jsonschema
import pytest
import ray.autoscaler
import yaml

REPO = Path(__file__).resolve().parent.parent
CLUSTER = REPO / "cluster"
SCRIPT = "experiments/granularity_ablation.py"


def _load(name: str):
    return yaml.safe_load((CLUSTER / name).read_text())


def test_launcher_config_passes_rays_schema():
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    config = _load("aws-gpu.yaml")
    jsonschema.validate(config, schema)


def test_launcher_config_passes_rays_own_checks():
    """What `ray up` does first: fill in the AWS defaults, then validate the result."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = prepare_config(_load("aws-gpu.yaml"))
    validate_config(config)
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    gpu = [t for name, t in types.items() if name != config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0
    assert len(gpu) == 1 and gpu[0]["resources"]["GPU"] >= 1
    assert gpu[0]["min_workers"] == 0 and gpu[0]["max_workers"] >= 1
    assert gpu[0]["node_config"]["InstanceType"].startswith(("g5.", "g6.", "p"))


def test_the_fake_multinode_config_mirrors_the_aws_one():
    """cluster/fake-multinode.yaml (tests/ray/test_autoscaling.py) passes Ray's schema and
    has aws-gpu.yaml's worker node type, with the same resources, min 0."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    fake, aws = _load("fake-multinode.yaml"), _load("aws-gpu.yaml")
    jsonschema.validate(fake, schema)
    validate_config(prepare_config(fake))
    f, a = fake["available_node_types"]["gpu"], aws["available_node_types"]["gpu"]
    assert {k: v for k, v in f["resources"].items() if k != "object_store_memory"} == a["resources"]
    assert f["min_workers"] == a["min_workers"] == 0 and 1 <= f["max_workers"] <= a["max_workers"]
    head = fake["available_node_types"][fake["head_node_type"]]
    assert head["resources"] == {"CPU": 0}  # no trial resources on the head


def test_the_autoscalers_maximum_is_read_from_a_launcher_config():
    from hmgray.ray_runtime import ceiling_from_launcher_config

    # aws: the head's resources are detected ({}), 4 g5.xlarge workers of 4 CPUs, 1 GPU
    assert ceiling_from_launcher_config(str(CLUSTER / "aws-gpu.yaml")) == {"CPU": 16, "GPU": 4}
    fake = ceiling_from_launcher_config(str(CLUSTER / "fake-multinode.yaml"))
    assert (fake["CPU"], fake["GPU"]) == (8, 2)


def test_launcher_installs_torch_then_the_project_and_uses_token_auth():
    config = _load("aws-gpu.yaml")
    for key in ("head_setup_commands", "worker_setup_commands"):
        cmds = config[key]
        torch = next(i for i, c in enumerate(cmds) if re.search(r"install .*\btorch\b", c))
        project = next(i for i, c in enumerate(cmds) if "-e ." in c)
        assert torch < project, key
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = [c for c in config[key] if "ray start" in c]
        assert start and all("RAY_AUTH_MODE=token" in c for c in start), key
    assert "~/.ray/auth_token" in config["file_mounts"]


def test_rayjob_runs_the_experiment_script_on_gpu_workers():
    docs = [d for d in yaml.safe_load_all((CLUSTER / "kuberay-rayjob.yaml").read_text()) if d]
    job = next(d for d in docs if d["kind"] == "RayJob")
    assert job["apiVersion"] == "ray.io/v1"
    spec = job["spec"]
    entry = spec["entrypoint"].split()
    assert entry[0] == "python"
    script = next(a for a in entry if a.endswith(".py"))
    assert script.endswith(SCRIPT) and (REPO / SCRIPT).is_file()
    storage = entry[entry.index("--storage") + 1]
    assert storage.startswith("s3://")
    assert float(entry[entry.index("--gpus-per-trial") + 1]) > 0
    yaml.safe_load(spec["runtimeEnvYAML"])  # a YAML string inside the YAML: must parse too

    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == ray.__version__
    assert cluster["authOptions"]["mode"] == "token"
    (group,) = cluster["workerGroupSpecs"]
    assert group["minReplicas"] == 0 and group["maxReplicas"] >= 1
    (container,) = group["template"]["spec"]["containers"]
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    dockerfile = (CLUSTER / "Dockerfile").read_text()
    assert f"rayproject/ray:{ray.__version__}-" in dockerfile
    assert "/home/ray/hmgray" in spec["entrypoint"] and "/home/ray/hmgray" in dockerfile


def test_runtime_env_ships_the_code_and_nothing_else(tmp_path):
    """Ray's own packaging of the working_dir, with our excludes: what a job uploads."""
    from ray._private.runtime_env.packaging import _zip_files

    env = _load("runtime_env.yaml")
    assert env["working_dir"] == "."
    out = tmp_path / "pkg.zip"
    _zip_files(str(REPO), env["excludes"], str(out), include_gitignore=True)
    names = set(zipfile.ZipFile(out).namelist())
    for needed in (
        SCRIPT,
        "pyproject.toml",
        "hmgray/__init__.py",
        "hmgray/data/shards.py",  # an unanchored "data/" exclude would drop this
        "hmgray/search/reaper.py",
        "analysis/__init__.py",
    ):
        assert needed in names, needed
    for dropped in (".venv/", ".git/", "runs/", "data/", "tests/", "benchmarks/"):
        assert not any(n.startswith(dropped) for n in names), dropped
    assert not any("__pycache__" in n for n in names)
    assert out.stat().st_size < 5 * 2**20  # Ray refuses packages over 500 MiB; ours is tiny


@pytest.mark.parametrize(
    "name", ["aws-gpu.yaml", "fake-multinode.yaml", "runtime_env.yaml", "kuberay-rayjob.yaml"]
)
def test_no_secrets_or_placeholders_leak(name):
    text = (CLUSTER / name).read_text()
    assert "AKIA" not in text and "aws_secret_access_key" not in text.lower()
