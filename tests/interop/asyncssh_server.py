"""An SSH server built on AsyncSSH, a fourth implementation for tests/it/asyncssh.rs.

    asyncssh_server.py HOST_KEY AUTHORIZED_KEYS [sftp-only]

Listens on 127.0.0.1 with a free port and prints `port N` once it accepts connections. It
runs commands with /bin/sh as the user running it, passing stdin, stdout, stderr and the
exit status (or the signal that ended the command); serves SFTP; allows local (direct-tcpip) and remote (tcpip-forward)
forwarding. With `sftp-only` it serves SFTP alone and answers exec requests with a failure,
as SFTP-only servers do. It exits when its stdin closes, so it never outlives the test.
"""

import asyncio
import os
import signal
import sys

import asyncssh


class Server(asyncssh.SSHServer):
    def connection_requested(self, dest_host, dest_port, orig_host, orig_port):
        return True

    def server_requested(self, listen_host, listen_port):
        return True


async def run(process):
    child = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", process.command or "true",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **{str(k): str(v) for k, v in process.env.items()}},
    )
    # No EOF when stdout ends: stderr may still have data, and writing after EOF would
    # end the connection. exit() sends EOF once both are drained.
    await process.redirect(
        stdin=child.stdin, stdout=child.stdout, stderr=child.stderr, send_eof=False
    )
    code = await child.wait()
    await process.stdout.drain()
    await process.stderr.drain()
    if code < 0:
        process.exit_with_signal(signal.Signals(-code).name[3:])
    else:
        process.exit(code)


async def main(host_key, authorized_keys, mode):
    commands = {} if mode == "sftp-only" else {"process_factory": run}
    server = await asyncssh.create_server(
        Server, "127.0.0.1", 0,
        server_host_keys=[host_key],
        authorized_client_keys=authorized_keys,
        sftp_factory=True,
        **commands,
        encoding=None,
        line_editor=False,
    )
    port = server.sockets[0].getsockname()[1]
    print(f"port {port}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
