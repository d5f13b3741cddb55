"""The use cases: answering from, filling and re-embedding a catalog. Knows core and storage;
no Telegram, no argparse (shared/ARCHITECTURE.md)."""
