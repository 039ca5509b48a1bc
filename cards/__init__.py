"""Card templates, cards and their ledger, campaigns, vouchers and redemptions."""
