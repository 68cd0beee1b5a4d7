"""Tender alerts: tenders from TED, OCDS, RSS and CSV sources normalised once (`model.Tender`), the CPV
vocabulary, matching members' alert profiles. No aiogram here."""
