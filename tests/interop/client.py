"""ssh-mcp driven by the official MCP Python SDK (`mcp`), as a client written by others would.

    client.py (--stdio BINARY | --http URL) --mode auto|legacy --address HOST:PORT --user USER --key PATH

`--mode auto` lets the SDK probe `server/discover` and so speak 2026-07-28; `legacy` forces the
2025-11-25 `initialize` handshake. Against a real sshd at ADDRESS, unknown to the server, it lists
the tools; connects while declining the host key the server asks the user to confirm
(elicitation: pushed on 2025-11-25, an input-required result on 2026-07-28), then trusting it,
then once more without being asked; runs a command (exit code, stdout, stderr), follows a command of more than two seconds through
its progress notifications, cancels a `sleep 60` from the client and watches, with `pgrep` in a
second `ssh_execute`, until it is gone on the remote host. Prints a line per step; the first
broken expectation ends the run with a non-zero exit status.

Run by tests/it/official.rs with the virtual environment that scripts/interop-setup makes.
"""

import argparse
import json
import random
import sys

import anyio
import mcp.types as types
from mcp import Client, StdioServerParameters

# Upper bound for the whole run; each step has its own, shorter one.
RUN_LIMIT = 100
# How long a cancelled command may take to disappear from the remote host.
GONE_LIMIT = 10.0
PROTOCOL = {"auto": "2026-07-28", "legacy": "2025-11-25"}


def check(ok, what):
    if not ok:
        raise AssertionError(what)


def step(text):
    print(f"ok: {text}", flush=True)


def structured(result, tool):
    """The structured content of a successful tool result; its text must be the same JSON."""
    check(not result.is_error, f"{tool} failed: {result.content}")
    data = result.structured_content
    check(isinstance(data, dict), f"{tool}: no structured content: {result}")
    texts = [c.text for c in result.content if c.type == "text"]
    check(
        len(texts) == 1 and json.loads(texts[0]) == data,
        f"{tool}: the text content is not the structured content: {texts}",
    )
    return data


async def execute(client, session, command, **extra):
    args = {"session_id": session, "command": command}
    args.update(extra)
    return structured(await client.call_tool("ssh_execute", args), "ssh_execute")


async def remote_pids(client, session, marker):
    """Processes on the remote host whose command line contains `marker` (a regex)."""
    # The bracket keeps the pattern from matching the shell that runs pgrep.
    out = await execute(client, session, f"pgrep -f '[{marker[0]}]{marker[1:]}' || true")
    return out["stdout"].split()


async def wait_until(predicate, limit, what):
    with anyio.move_on_after(limit):
        while not await predicate():
            await anyio.sleep(0.2)
        return
    raise AssertionError(f"{what} within {limit} s")


async def run(args):
    if args.stdio:
        # The SDK passes HOME, USER and PATH on to the server: the test gives this process a
        # temporary HOME, where the server keeps its known_hosts.
        target = StdioServerParameters(command=args.stdio, args=[], env={"RUST_LOG": "info"})
    else:
        target = args.http
    questions = []
    answers = []

    async def on_elicit(context, params):
        questions.append(params.message)
        trust = answers.pop(0) if answers else False
        if trust:
            return types.ElicitResult(action="accept", content={"trust": True})
        return types.ElicitResult(action="decline")

    async with Client(
        target, mode=args.mode, elicitation_callback=on_elicit, read_timeout_seconds=30
    ) as client:
        want = PROTOCOL[args.mode]
        check(client.protocol_version == want, f"protocol {client.protocol_version}, not {want}")
        step(f"protocol {client.protocol_version}")

        names = {t.name for t in (await client.list_tools()).tools}
        for name in ["ssh_connect", "ssh_execute", "ssh_job", "ssh_upload", "ssh_download",
                     "ssh_list_dir", "ssh_list_sessions", "ssh_disconnect"]:
            check(name in names, f"{name} not listed: {sorted(names)}")
        step(f"{len(names)} tools listed")

        connect = {"address": args.address, "username": args.user, "key_path": args.key}
        answers.append(False)
        refused = await client.call_tool("ssh_connect", connect)
        check(refused.is_error, f"connected although the user declined: {refused}")
        text = " ".join(c.text for c in refused.content if c.type == "text")
        check("not confirmed" in text, f"refusal does not say why: {text}")
        check(len(questions) == 1 and "SHA256:" in questions[0], f"questions: {questions}")
        step("unknown host key shown to the user; declined, so refused")

        answers.append(True)
        connected = structured(await client.call_tool("ssh_connect", connect), "ssh_connect")
        check(len(questions) == 2 and questions[1] == questions[0], f"questions: {questions}")
        check(connected["host_key_status"] == "confirmed", f"status: {connected}")
        check(connected["host_key_fingerprint"] in questions[1], f"fingerprint: {connected}")
        again = structured(await client.call_tool("ssh_connect", connect), "ssh_connect")
        check(len(questions) == 2 and again["host_key_status"] == "known", f"again: {again}")
        await client.call_tool("ssh_disconnect", {"session_id": again["session_id"]})
        step("trusted when asked, recorded, and known the next time without asking")
        check(connected["authenticated"] is True, f"not authenticated: {connected}")
        session = connected["session_id"]
        step(f"connected, session {session}")

        out = await execute(client, session, "echo hello; echo oops >&2; exit 3")
        check(out["exit_code"] == 3, f"exit code: {out}")
        check(out["stdout"] == "hello\n" and out["stderr"] == "oops\n", f"streams: {out}")
        check(out["timed_out"] is False, f"timed out: {out}")
        step("command ran: exit code 3, stdout and stderr exact")

        progress = []

        async def on_progress(value, total, message):
            progress.append((value, total, message))

        result = await client.call_tool(
            "ssh_execute",
            {"session_id": session, "command": "echo tick; sleep 3; echo done", "timeout_secs": 30},
            progress_callback=on_progress,
        )
        out = structured(result, "ssh_execute")
        check(out["stdout"] == "tick\ndone\n" and out["exit_code"] == 0, f"slow command: {out}")
        check(len(progress) >= 2, f"progress notifications: {progress}")
        values = [p[0] for p in progress]
        check(values == sorted(set(values)), f"progress does not increase: {values}")
        check(all(p[1] == 30 for p in progress), f"total is not the timeout: {progress}")
        step(f"{len(progress)} progress notifications for a 3 s command")

        # A unique duration marks this run's command among all processes of the test user.
        duration = f"60.{random.randrange(10**5, 10**6)}"
        marker = f"sleep {duration}"
        call = {}
        scope = anyio.CancelScope()

        async def long_call():
            with scope:
                call["result"] = await client.call_tool(
                    "ssh_execute",
                    {"session_id": session, "command": marker, "timeout_secs": 120},
                )

        async with anyio.create_task_group() as group:
            group.start_soon(long_call)

            async def started():
                return len(await remote_pids(client, session, marker)) > 0

            await wait_until(started, 15, f"`{marker}` did not start")
            step(f"`{marker}` running on the remote host")
            scope.cancel()
        check("result" not in call, f"the cancelled call still returned: {call}")

        async def gone():
            return not await remote_pids(client, session, marker)

        await wait_until(gone, GONE_LIMIT, f"`{marker}` still runs after the cancel")
        step(f"`{marker}` stopped on the remote host after the client cancelled")

        out = await execute(client, session, "echo still-here")
        check(out["stdout"] == "still-here\n", f"session after the cancel: {out}")
        disconnected = await client.call_tool("ssh_disconnect", {"session_id": session})
        check(not disconnected.is_error, f"ssh_disconnect failed: {disconnected.content}")
        step("session usable after the cancel, then disconnected")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stdio", help="path of ssh-mcp-stdio")
    target.add_argument("--http", help="URL of a running ssh-mcp")
    parser.add_argument("--mode", choices=sorted(PROTOCOL), required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()

    async def bounded():
        with anyio.fail_after(RUN_LIMIT):
            await run(args)

    try:
        anyio.run(bounded)
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    print("all checks passed", flush=True)


if __name__ == "__main__":
    main()
