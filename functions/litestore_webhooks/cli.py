def main() -> None:
    raise SystemExit("litestore-webhooks: CLI not built yet")
