"""Times N `status` and N `ps` MCP tool calls over one session (stdio or streamable HTTP)
with the official MCP Python SDK; prints one JSON object of per-call latencies (ms)."""

import asyncio
import json
import sys
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def timed(session, n):
    await session.initialize()
    out = {}
    for tool in ("status", "ps"):
        await session.call_tool(tool, {})  # warm-up: tools/list cache, connections
        ms = []
        for _ in range(n):
            t0 = time.perf_counter()
            res = await session.call_tool(tool, {})
            ms.append((time.perf_counter() - t0) * 1000)
            if res.is_error:
                raise SystemExit(f"{tool} failed: {res}")
        out[tool] = ms
    return out


async def main():
    transport, n, token, target = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    if transport == "stdio":
        params = StdioServerParameters(command=target[0], args=["-C", target[1], "mcp"],
                                       env={"GANTRY_TOKEN": token, "PATH": "/usr/bin:/bin"})
        async with stdio_client(params) as (r, w):
            async with ClientSession(r, w) as s:
                out = await timed(s, n)
    else:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with http, streamable_http_client(target[0], http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as s:
                out = await timed(s, n)
    print(json.dumps(out))


asyncio.run(main())
