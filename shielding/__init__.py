"""What a viewer may see of a child: the one place that decides, with no Flask import."""
