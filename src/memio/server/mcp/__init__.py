"""memio's memory as MCP tools (`tools`), over Streamable HTTP at /mcp (`http`) and stdio
(`stdio`, the `memio mcp` command)."""
