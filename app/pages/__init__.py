"""Pages composed across domains, above them all: the study overview (studies, panel, rounds), the
protocol tab and file (studies and panel), the mailbox (mail) and the study's log (audit). Domains
never import from here."""
