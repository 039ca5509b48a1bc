"""Referral (issue 20): a member's code and link, invites recorded by the invitee's first
login, both rewarded at the invitee's first redemption."""
