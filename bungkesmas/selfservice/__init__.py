"""Members' own side: the status check at /cek (and POST /api/v1/status), the member
card with its QR code that opens /cek/<token>, and revoking printed cards."""
