"""`datamill annotate …`: the annotation app's commands live beside the app."""

from datamill.annotate.cli import annotate
from datamill.cli.root import main

main.add_command(annotate)
