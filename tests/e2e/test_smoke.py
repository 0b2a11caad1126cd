"""The first end-to-end checks of the real rkt binary (skipped until it is built)."""

import harness
from harness import require_stage1


def test_version(rkt):
    res = rkt.run("version").expect(0)
    assert res.out.startswith("rkt Version:")


def test_fly_pod_exit_code_and_status(rkt, build_dir, inspect_image):
    require_stage1(build_dir, "fly")
    for code in (0, 2):
        res, uuid = rkt.run_pod("--stage1-name=fly", inspect_image.arg, "--",
                                "--print-msg=Hello", f"--exit-code={code}")
        assert res.code == code, repr(res)
        assert "Hello" in res.out
        status = rkt.status(uuid)
        assert status["state"] == "exited" and status["exited"] == "true"
        assert status.get("app-inspect") == str(code), status
    assert len(rkt.list_pods()) == 2


def test_unknown_pod_is_an_error(rkt):
    res = rkt.run("status", "0f746094-3438-42bc-ab37-3cf85f132e60")
    assert res.code == 254
    assert harness.parse_key_values(res.out) == {}
