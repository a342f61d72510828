"""The satchel file format: container, encoder, decoder, trust policy and handlers."""
