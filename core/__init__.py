"""Pure audio and ML: decoding, features, models, embeddings and ranking. No Telegram, no SQL."""
