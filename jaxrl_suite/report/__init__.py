"""Reports: tables (Markdown/CSV/LaTeX) of dataset quality and learner results, their
bootstrap statistics (``stats``), figures (``plots``) and the whole report (``summary``)."""
