"""What a user sees of a run: the live terminal view, the event lines written where there is
no terminal, and the end-of-run summary. Plain data in (:class:`~raytuner.view.state.RunView`,
built from Ray's trials during a run or from a run folder's records afterwards), text out; no
Ray here, so ``raytuner status`` renders the same view from a folder without it."""
