"""Reports: tables (Markdown/CSV) of dataset quality and, later, learner results."""
