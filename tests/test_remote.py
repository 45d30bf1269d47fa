"""A team's DVC remote through the real CLI: an S3 remote served on loopback by moto, push, a
teammate's clone and pull, an experiment shared with `dvc exp push` / `dvc exp pull`, and a
remote that is down. (A shared-folder remote: test_guides' teammate test.)"""

import sys

import pytest

from stages import predict

from .conftest import Project, mixed_table, stages_ran, write_table

pytestmark = pytest.mark.slow

BUCKET = "team"
CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}  # moto takes any


@pytest.fixture
def s3_endpoint():
    """An S3 endpoint on 127.0.0.1 at a free port, with an empty bucket; stopped afterwards."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    keys = {f"aws_{name}": value for name, value in CREDENTIALS.items()}
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys).create_bucket(Bucket=BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()


def use_s3_remote(project: Project, endpoint: str) -> None:
    """The README's commands: the remote in .dvc/config (committed), the keys in config.local."""
    project.dvc("remote", "add", "-d", "team", f"s3://{BUCKET}/store")
    project.dvc("remote", "modify", "team", "endpointurl", endpoint)
    for key, value in CREDENTIALS.items():
        project.dvc("remote", "modify", "--local", "team", key, value)


def tracked_md5s(project: Project) -> dict[str, str]:
    """md5 of every file the pipeline records (DVC-cached or in git) and the `dvc add`-ed table."""
    files = [*project.lock_md5s(), "data/raw/customers.csv"]
    return {name: predict.file_md5(project.path(name)) for name in files if project.path(name).is_file()}


def test_s3_round_trip_experiments_shared_and_a_remote_down(project, s3_endpoint, tmp_path):
    # a raw table versioned with `dvc add` beside the pipeline's outputs
    write_table(mixed_table(rows=60), project.path("data/raw/customers.csv"))
    project.dvc("add", "data/raw/customers.csv")
    assert stages_ran(project.dvc("repro")) == ["prepare"]  # data/raw is prepare's dependency
    use_s3_remote(project, s3_endpoint)
    project.git("add", "-A")
    project.git("commit", "-qm", "customers table; the team's S3 remote")
    project.dvc("push")
    pushed = tracked_md5s(project)
    cached = [
        "data/raw/customers.csv",
        "data/prepared/dataset.npz",
        "models/scaler.joblib",
        "models/model.pt",
    ]
    cached += [
        f"data/{stage}/{part}.npz" for stage in ("split", "scaled") for part in ("train", "val", "test")
    ]
    assert set(cached) <= set(pushed)  # and the metrics and plot data git holds

    # a teammate: git clone, their own keys, dvc pull; nothing to rerun, predict works
    origin = tmp_path / "origin.git"
    project.run("git", "clone", "-q", "--bare", str(project.root), str(origin))
    project.git("remote", "add", "origin", str(origin))
    teammate = Project(tmp_path / "teammate")
    project.run("git", "clone", "-q", str(origin), str(teammate.root))
    for key, value in CREDENTIALS.items():
        teammate.dvc("remote", "modify", "--local", "team", key, value)
    teammate.dvc("pull")
    assert tracked_md5s(teammate) == pushed
    assert "up to date" in teammate.dvc("status").stdout
    assert teammate.repro() == []
    done = teammate.run(sys.executable, "-m", "stages.predict", "examples/iris_new_rows.csv", "-o", "p.csv")
    assert done.stderr.strip() == "predict: 4 rows -> p.csv"

    # an experiment shared: git refs to the git remote, its outputs to the DVC remote
    project.dvc("exp", "run", "-n", "short", "-S", "train.epochs=5")
    model = predict.file_md5(project.path("models/model.pt"))
    project.dvc("exp", "push", "origin", "short")
    teammate.dvc("exp", "pull", "origin", "short")
    assert "short" in teammate.dvc("exp", "list", "--all-commits").stdout
    teammate.dvc("exp", "apply", "short")
    assert predict.file_md5(teammate.path("models/model.pt")) == model

    # the remote goes down: DVC's error, non-zero, and the workspace keeps every file
    project.git("checkout", "-q", ".")
    project.dvc("checkout", "-q")
    before = tracked_md5s(project)
    project.dvc("remote", "modify", "team", "endpointurl", "http://127.0.0.1:9")  # nothing listens
    for command in ("push", "pull"):
        # one attempt instead of botocore's retries with back-off: 2 s, not 7
        done = project.dvc(command, check=False, env={"AWS_MAX_ATTEMPTS": "1"})
        assert done.returncode != 0 and "Traceback" not in done.stderr, command
        assert "Could not connect to the endpoint URL" in done.stderr, command
    assert tracked_md5s(project) == before
    assert project.git("status", "--porcelain").stdout == " M .dvc/config\n"  # the endpoint, only
