"""Intake of supplier replies: pure parsing and classification of raw e-mail bytes.

``parse.parse_message`` turns untrusted RFC 5322 bytes into a frozen ``ParsedMessage``
(headers, attachments at any depth, body text, file-host links, problems) and never raises
for bad input; ``classify.classify`` says what the message is (supplier reply, auto-reply,
bounce) and what it carries. No I/O: the mailbox sources and the matching come later.
"""
