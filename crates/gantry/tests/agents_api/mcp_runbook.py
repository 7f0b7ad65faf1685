"""The operations runbook through gantry's MCP server with the official MCP Python SDK.

Driven by crates/gantry/tests/agents_api/mcp.rs. Over stdio (`gantry mcp`) or streamable
HTTP (`/mcp` under `gantry serve`):

  operator: status -> deploy GOOD (canary, wait, progress) -> deploy v3 (bad: rolled back
            automatically, figures in the result) -> update one component (deploy FROM,
            rolling) -> rollback dry run -> rollback -> emergency stop -> start
  viewer:   tools/list has no mutating tool; a forced deploy is refused naming `deploy`
  pipeline: three sessions (planner, verifier, viewer tokens): the viewer sees no
            run_pipeline/sign_checkpoint/veto; the planner runs `release` with wait and
            progress while the verifier signs its checkpoint, and the run succeeds; a
            second run is vetoed by the verifier and fails

Prints one JSON line per step on stdout; any failed expectation raises (exit 1).
"""

import argparse
import asyncio
import contextlib
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

MUTATING = {"deploy", "promote", "pause", "resume", "abort", "rollback", "emergency_stop", "start",
            "run_pipeline", "sign_checkpoint", "veto", "decision_veto", "decision_approve",
            "approve_deployment"}
PIPELINE = {"run_pipeline", "sign_checkpoint", "veto"}


def step(name, **fields):
    print(json.dumps({"step": name, **fields}), flush=True)


def expect(cond, what, result=None):
    if not cond:
        raise AssertionError(f"{what}: {result!r}")


def out_seq(log):
    return log[-1]["seq"] if log else None


async def call(session, tool, args=None, progress=None):
    res = await session.call_tool(tool, args or {}, progress_callback=progress)
    return res, res.structured_content or {}


async def operator(session, good, start):
    tools = {t.name: t for t in (await session.list_tools()).tools}
    expect(MUTATING - PIPELINE - {"decision_veto"} <= set(tools), "an operator sees every operation", sorted(tools))
    expect("decision_veto" not in tools, "an operator does not veto services", sorted(tools))
    expect(not (PIPELINE & set(tools)), "an operator neither runs pipelines nor signs", sorted(tools))
    expect(tools["deploy"].annotations.read_only_hint is False, "deploy is not read-only", tools["deploy"].annotations)
    expect(tools["status"].annotations.read_only_hint is True, "status is read-only", tools["status"].annotations)
    expect(tools["deploy"].input_schema["required"] == ["service", "version"] or
           set(tools["deploy"].input_schema["required"]) == {"service", "version"},
           "deploy's input schema requires service and version", tools["deploy"].input_schema)
    expect(tools["ps"].output_schema is not None, "ps has an output schema", tools["ps"])

    res, out = await call(session, "status")
    expect(not res.is_error and out, "status answers the report", res)
    step("status", status=out.get("status"))

    notes = []

    async def progress(p, total, message):
        notes.append(message)

    res, out = await call(session, "deploy", {"service": "web", "version": good, "strategy": "canary", "wait": True}, progress)
    expect(not res.is_error and out.get("phase") == "succeeded", f"deploy {good} succeeds", res)
    expect(len(notes) > 0, "deploy with wait reports progress", notes)
    step("deploy", version=good, phase=out["phase"], id=out["id"], progress=len(notes))

    notes.clear()
    res, out = await call(session, "deploy", {"service": "web", "version": "v3", "wait": True}, progress)
    expect(not res.is_error and out.get("phase") == "rolled_back", "the bad v3 is rolled back automatically", res)
    figures = (out.get("analysis") or {}).get("figures") or {}
    expect(figures.get("requests", 0) > 0 and figures.get("error_rate", 0) > 0.05,
           "the rollback's analysis figures are in the tool result", out)
    step("bad_deploy", phase=out["phase"], id=out["id"], reason=out.get("reason"), error_rate=figures["error_rate"],
         requests=figures["requests"], progress=len(notes))

    res, out = await call(session, "deploy", {"service": "web", "version": start, "strategy": "rolling", "wait": True})
    expect(not res.is_error and out.get("phase") == "succeeded", f"updating web to {start} succeeds", res)
    step("update", version=start, id=out["id"])

    res, out = await call(session, "rollback", {"service": "web", "dry_run": True})
    expect(not res.is_error and out.get("dry_run") is True, "the dry run plans only", res)
    step("rollback_dry_run", plan=out.get("plan"))

    res, out = await call(session, "rollback", {"service": "web", "wait": True})
    expect(not res.is_error and out.get("to") == good and out.get("phase") in ("rolled_back", "succeeded"),
           f"the rollback returns to {good}", res)
    step("rollback", to=out["to"], id=out["id"], phase=out["phase"])

    res, out = await call(session, "emergency_stop")
    expect(not res.is_error, "emergency stop", res)
    step("emergency_stop", answer=out)

    res, out = await call(session, "start")
    expect(not res.is_error, "start", res)
    step("start", answer=out)

    resources = {str(r.uri) for r in (await session.list_resources()).resources}
    expect({"gantry://status", "gantry://config", "gantry://deployments"} <= resources, "resources", resources)
    config = await session.read_resource("gantry://config")
    expect("services:" in config.contents[0].text, "the config resource is gantry.yaml", config)
    prompts = {p.name for p in (await session.list_prompts()).prompts}
    expect({"setup_environment", "fix_ci_failure", "deploy_to_production", "roll_back"} <= prompts, "prompts", prompts)
    prompt = await session.get_prompt("roll_back", {"service": "web"})
    text = prompt.messages[0].content.text
    expect("gantry rollback web --dry-run" in text, "the roll-back checklist has the real commands", text)
    step("resources_and_prompts", resources=sorted(resources), prompts=sorted(prompts))


async def viewer(session):
    tools = {t.name for t in (await session.list_tools()).tools}
    expect(tools and not (tools & MUTATING), "a viewer sees no mutating tool", sorted(tools))
    res, out = await call(session, "deploy", {"service": "web", "version": "v2"})
    err = out.get("error") or {}
    expect(res.is_error and err.get("permission") == "deploy" and "deploy" in err.get("message", ""),
           "a forced deploy is refused naming `deploy`", res)
    step("viewer", tools=sorted(tools), refused=err)


async def wait_checkpoint(verifier, before):
    """The id of the new run (not in `before`) once its checkpoint waits."""
    for _ in range(600):
        res, out = await call(verifier, "runs")
        expect(not res.is_error, "runs lists the runs", res)
        for run in out.get("runs", []):
            if run["id"] not in before and any(c["status"] == "waiting" for c in run["checkpoints"]):
                return run["id"]
        await asyncio.sleep(0.1)
    raise AssertionError("no run reached its checkpoint")


async def pipeline(planner, verifier, viewer):
    seen = {t.name for t in (await viewer.list_tools()).tools}
    expect({"runs", "logs"} <= seen and not (seen & PIPELINE), "a viewer reads runs and may not run or sign", sorted(seen))
    res, out = await call(viewer, "sign_checkpoint", {"run": "last", "stage": "build", "summary": "x"})
    expect(res.is_error and (out.get("error") or {}).get("permission") == "sign", "a viewer's forced sign is refused naming `sign`", res)
    step("pipeline_viewer", tools=sorted(seen))

    tools = {t.name: t for t in (await planner.list_tools()).tools}
    expect("run_pipeline" in tools and not ({"sign_checkpoint", "veto"} & set(tools)), "a planner runs and does not sign", sorted(tools))
    expect(tools["run_pipeline"].annotations.read_only_hint is False, "run_pipeline is not read-only", tools["run_pipeline"])
    expect(tools["run_pipeline"].input_schema["required"] == ["pipeline"], "run_pipeline needs the pipeline", tools["run_pipeline"].input_schema)
    vtools = {t.name: t for t in (await verifier.list_tools()).tools}
    expect({"sign_checkpoint", "veto"} <= set(vtools) and "run_pipeline" not in vtools, "a verifier signs and does not run", sorted(vtools))
    expect(vtools["veto"].annotations.destructive_hint is True, "veto is destructive", vtools["veto"].annotations)

    _, out = await call(viewer, "runs")
    before = {r["id"] for r in out.get("runs", [])}
    notes = []

    async def progress(p, total, message):
        notes.append(message)

    waiting = asyncio.create_task(call(planner, "run_pipeline", {"pipeline": "release", "wait": True}, progress))
    run = await wait_checkpoint(verifier, before)
    # The checkpoint waits until it is signed: sign once the planner's progress has shown
    # it waiting, so that notification is there to check whatever the machine's load.
    for _ in range(600):
        if any("waiting for role verifier" in n for n in notes) or waiting.done():
            break
        await asyncio.sleep(0.1)
    res, out = await call(verifier, "sign_checkpoint", {"run": run, "stage": "build", "summary": "tests pass (signed over MCP)"})
    expect(not res.is_error and out.get("decision") == "signed", "the verifier signs over MCP", res)
    res, out = await waiting
    expect(not res.is_error and out.get("status") == "succeeded" and out.get("id") == run, "the signed run succeeds", res)
    expect(any("waiting for role verifier" in n for n in notes) and any("signed by" in n for n in notes),
           "run_pipeline with wait reports the checkpoint as progress", notes)
    res, out = await call(viewer, "logs", {"run": run, "step": "build/test"})
    expect(not res.is_error and "built-ok" in out["logs"][0]["text"], "the step's log", res)
    step("pipeline_signed", run=run, status=out["status"], progress=len(notes), notes=notes)

    res, out = await call(planner, "run_pipeline", {"pipeline": "release"})
    expect(not res.is_error and out.get("status") == "running", "run_pipeline answers once the run started", res)
    vetoed = out["run"]
    expect(await wait_checkpoint(verifier, before | {run}) == vetoed, "the second run waits", vetoed)
    res, out = await call(verifier, "veto", {"run": vetoed, "stage": "build", "summary": "vetoed over MCP"})
    expect(not res.is_error and out.get("decision") == "vetoed", "the verifier vetoes over MCP", res)
    for _ in range(600):
        _, out = await call(viewer, "runs", {"id": vetoed})
        if out.get("status") in ("failed", "succeeded"):
            break
        await asyncio.sleep(0.1)
    expect(out.get("status") == "failed" and "vetoed over MCP" in (out.get("reason") or ""), "the vetoed run fails", out)
    step("pipeline_vetoed", run=vetoed, status=out["status"], reason=out["reason"])

    # The decision log: the verifier vetoes the service and clears it again; anyone reads it.
    expect("decisions" in seen and not ({"decision_veto", "decision_approve"} & seen), "a viewer reads the decision log only", sorted(seen))
    res, out = await call(verifier, "decision_veto", {"service": "web", "violation": "runbookMissing",
                                                      "specifics": ["no runbook linked (vetoed over MCP)"]})
    expect(not res.is_error and out.get("decision") == "veto" and out.get("blocking") is True, "the verifier vetoes web over MCP", res)
    veto_seq = out["seq"]
    res, out = await call(verifier, "decision_approve", {"service": "web", "summary": "runbook linked"})
    expect(not res.is_error and out.get("cleared") == [veto_seq], "the verifier's approve clears it", res)
    _, out = await call(viewer, "decisions", {"service": "web"})
    log = out.get("decisions", [])
    expect([d["decision"] for d in log][-2:] == ["veto", "approve"] and log[-2].get("cleared_by") == out_seq(log),
           "the decision log has both", log)
    step("decisions", veto=veto_seq, decisions=len(log))


@contextlib.asynccontextmanager
async def session_for(a, token):
    if a.transport == "stdio":
        params = StdioServerParameters(command=a.gantry, args=["-C", a.project, "mcp"],
                                       env={"GANTRY_TOKEN": token, "PATH": "/usr/bin:/bin"})
        async with stdio_client(params) as (r, w):
            async with ClientSession(r, w) as session:
                await session.initialize()
                yield session
    else:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with http, streamable_http_client(a.url, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                yield session


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--transport", choices=["stdio", "http"], required=True)
    ap.add_argument("--role", choices=["operator", "viewer", "pipeline"], required=True)
    ap.add_argument("--token", required=True, help="the operator's or viewer's; with --role pipeline, the planner's")
    ap.add_argument("--verifier-token")
    ap.add_argument("--viewer-token")
    ap.add_argument("--gantry")
    ap.add_argument("--project")
    ap.add_argument("--url")
    ap.add_argument("--good", default="v2")
    ap.add_argument("--start", default="v1")
    a = ap.parse_args()
    if a.role == "pipeline":
        async with session_for(a, a.token) as planner_s, session_for(a, a.verifier_token) as verifier_s, \
                session_for(a, a.viewer_token) as viewer_s:
            await pipeline(planner_s, verifier_s, viewer_s)
        return

    async with session_for(a, a.token) as session:
        if a.role == "operator":
            await operator(session, a.good, a.start)
        else:
            await viewer(session)

if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as e:  # the Rust test prints stderr; one line says what failed
        print(f"runbook failed: {type(e).__name__}: {e}", file=sys.stderr)
        raise
