package classify

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spanflow/spanflow/probe/probetest"
)

// RFC 9001 Appendix A and RFC 9369 Appendix A: the client Initial packet
// both documents protect, DCID 0x8394c8f03e515708, packet number 2 in 4 bytes.
const (
	rfcDCID = "8394c8f03e515708"

	// A.2: the unprotected payload: one CRYPTO frame (offset 0, 241 bytes)
	// with a ClientHello for example.com, then 917 bytes of PADDING.
	rfcCryptoFrame = "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868" +
		"04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578" +
		"616d706c652e636f6dff01000100000a00080006001d00170018001000070005" +
		"04616c706e000500050100000000003300260024001d00209370b2c9caa47fba" +
		"baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400" +
		"0d0010000e0403050306030203080408050806002d00020101001c0002400100" +
		"3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000" +
		"75300901100f088394c8f03e51570806048000ffff"
	rfcPadding = 917

	rfc9001Header = "c300000001088394c8f03e5157080000449e00000002"
	rfc9369Header = "d36b3343cf088394c8f03e5157080000449e00000002"

	rfc9001Packet = "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11" +
		"d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399" +
		"1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c" +
		"8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212" +
		"30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5" +
		"457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208" +
		"4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec" +
		"4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3" +
		"485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db" +
		"059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c" +
		"7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8" +
		"9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556" +
		"be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74" +
		"68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a" +
		"c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00" +
		"f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632" +
		"291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964" +
		"25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd" +
		"14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff" +
		"ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198" +
		"e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd" +
		"c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73" +
		"203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f" +
		"cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e" +
		"fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade" +
		"a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047" +
		"90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2" +
		"162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4" +
		"40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0" +
		"6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e" +
		"8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0" +
		"be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400" +
		"54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab" +
		"760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9" +
		"f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4" +
		"056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064" +
		"7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241" +
		"e221af44860018ab0856972e194cd934"

	rfc9369Packet = "d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485" +
		"dd04de806071bf03dceebfa162e75d6c96058bdbfb127cdfcbf903388e99ad04" +
		"9f9a3dd4425ae4d0992cfff18ecf0fdb5a842d09747052f17ac2053d21f57c5d" +
		"250f2c4f0e0202b70785b7946e992e58a59ac52dea6774d4f03b55545243cf1a" +
		"12834e3f249a78d395e0d18f4d766004f1a2674802a747eaa901c3f10cda5500" +
		"cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253cd68" +
		"18f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff33" +
		"12ae50b187c1433c0f028edcc4c2838b6a9bfc226ca4b4530e7a4ccee1bfa2a3" +
		"d396ae5a3fb512384b2fdd851f784a65e03f2c4fbe11a53c7777c023462239dd" +
		"6f7521a3f6c7d5dd3ec9b3f233773d4b46d23cc375eb198c63301c21801f6520" +
		"bcfb7966fc49b393f0061d974a2706df8c4a9449f11d7f3d2dcbb90c6b877045" +
		"636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa549e27a1f" +
		"ac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c12" +
		"16ccce2d0193f958bb3850a833f7ae432b65bc5a53975c155aa4bcb4f7b2c4e5" +
		"4df16efaf6ddea94e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4" +
		"fdf85290fdd893d577b1131a610ef6a5c32b2ee0293617a37cbb08b847741c3b" +
		"8017c25ca9052ca1079d8b78aebd47876d330a30f6a8c6d61dd1ab5589329de7" +
		"14d19d61370f8149748c72f132f0fc99f34d766c6938597040d8f9e2bb522ff9" +
		"9c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91" +
		"abfe43960977c87471cf9ad4074d30e10d6a7f03c63bd5d4317f68ff325ba3bd" +
		"80bf4dc8b52a0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db" +
		"848265e3e5eb72dfe8299ad7481a408322cac55786e52f633b2fb6b614eaed18" +
		"d703dd84045a274ae8bfa73379661388d6991fe39b0d93debb41700b41f90a15" +
		"c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e57f32162a8560cacc" +
		"7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e8238e61" +
		"f6b5b984d4d3dfa033c1bb7e4f0037febf406d91c0dccf32acf423cfa1e70710" +
		"10d3f270121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b" +
		"3d6758158197107c14ebb193230cd1157380aa79cae1374a7c1e5bbcb80ee23e" +
		"06ebfde206bfb0fcbc0edc4ebec309661bdd908d532eb0c6adc38b7ca7331dce" +
		"8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3899f31f0eed19e3417d1" +
		"34b90c9058f8632c798d4490da4987307cba922d61c39805d072b589bd52fdf1" +
		"e86215c2d54e6670e07383a27bbffb5addf47d66aa85a0c6f9f32e59d85a44dd" +
		"5d3b22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e3" +
		"8d209d0fa6536d27a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89" +
		"d5974ee12e5cf7d5da4d6a31123041f33e61407e76cffcdcfd7e19ba58cf4b53" +
		"6f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb19" +
		"9a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96b" +
		"a18b2faa745b6fe189cf772a9f84cbfc"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// refKeys derives client Initial keys with crypto/hkdf, independently of
// quicClientInitialKeys (RFC 8446 7.1 HkdfLabel built here).
func refKeys(t testing.TB, salt, dcid []byte, v2 bool) (secret, key, iv, hp []byte) {
	t.Helper()
	label := func(secret []byte, l string, n int) []byte {
		full := "tls13 " + l
		info := []byte{byte(n >> 8), byte(n), byte(len(full))}
		info = append(info, full...)
		info = append(info, 0)
		out, err := hkdf.Expand(sha256.New, secret, string(info), n)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	initial, err := hkdf.Extract(sha256.New, dcid, salt)
	if err != nil {
		t.Fatal(err)
	}
	secret = label(initial, "client in", 32)
	p := "quic "
	if v2 {
		p = "quicv2 "
	}
	return secret, label(secret, p+"key", 16), label(secret, p+"iv", 12), label(secret, p+"hp", 16)
}

// seal protects a long-header packet the way RFC 9001 5 says, with the
// standard library's AES-GCM: header ends with the packet number of pnLen
// bytes (its Length field already counts the 16-byte tag).
func seal(t testing.TB, key, iv, hp, header []byte, pnLen int, pn uint64, payload []byte) []byte {
	t.Helper()
	blk, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		t.Fatal(err)
	}
	nonce := slices.Clone(iv)
	for i := 0; i < 8; i++ {
		nonce[4+i] ^= byte(pn >> (56 - 8*i))
	}
	pkt := aead.Seal(slices.Clone(header), nonce, payload, header)
	hb, err := aes.NewCipher(hp)
	if err != nil {
		t.Fatal(err)
	}
	pnOff := len(header) - pnLen
	var mask [16]byte
	hb.Encrypt(mask[:], pkt[pnOff+4:pnOff+20])
	pkt[0] ^= mask[0] & 0x0f
	for i := 0; i < pnLen; i++ {
		pkt[pnOff+i] ^= mask[1+i]
	}
	return pkt
}

func TestQUICInitialKeysRFC(t *testing.T) {
	dcid := unhex(t, rfcDCID)
	for _, tc := range []struct {
		name                string
		version             uint32
		salt                []byte
		secret, key, iv, hp string
	}{
		{"RFC9001-A.1", quicV1, quicSaltV1[:],
			"c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea",
			"1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2"},
		{"RFC9369-A.1", quicV2, quicSaltV2[:],
			"14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b",
			"8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, ok := quicClientInitialKeys(tc.version, dcid)
			if !ok {
				t.Fatal("no keys")
			}
			if got := hex.EncodeToString(k.key[:]); got != tc.key {
				t.Errorf("key %s, RFC %s", got, tc.key)
			}
			if got := hex.EncodeToString(k.iv[:]); got != tc.iv {
				t.Errorf("iv %s, RFC %s", got, tc.iv)
			}
			if got := hex.EncodeToString(k.hp[:]); got != tc.hp {
				t.Errorf("hp %s, RFC %s", got, tc.hp)
			}
			// the reference derivation agrees with the RFC too
			secret, key, iv, hp := refKeys(t, tc.salt, dcid, tc.version == quicV2)
			if hex.EncodeToString(secret) != tc.secret || hex.EncodeToString(key) != tc.key ||
				hex.EncodeToString(iv) != tc.iv || hex.EncodeToString(hp) != tc.hp {
				t.Errorf("crypto/hkdf derivation disagrees with the RFC: %x %x %x %x", secret, key, iv, hp)
			}
		})
	}
}

// TestQUICInitialKeysMatchHKDF compares the allocation-free key schedule with
// crypto/hkdf for connection IDs of every allowed length and every version.
func TestQUICInitialKeysMatchHKDF(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, v := range []uint32{quicV1, quicV2, quicDraft23, 0xff00001c, quicDraft29, quicDraft29 + 3, quicDraft29 + 4, quicDraft34} {
		salt := quicSaltV1[:]
		switch {
		case v == quicV2:
			salt = quicSaltV2[:]
		case v >= quicDraft29 && v <= quicDraft29+3:
			salt = quicSaltDraft29[:]
		case v >= quicDraft23 && v < quicDraft29:
			salt = quicSaltDraft23[:]
		}
		for l := 0; l <= quicMaxCID; l++ {
			dcid := make([]byte, l)
			for i := range dcid {
				dcid[i] = byte(r.IntN(256))
			}
			k, ok := quicClientInitialKeys(v, dcid)
			if !ok {
				t.Fatalf("version %#x: no keys", v)
			}
			_, key, iv, hp := refKeys(t, salt, dcid, v == quicV2)
			if !bytes.Equal(k.key[:], key) || !bytes.Equal(k.iv[:], iv) || !bytes.Equal(k.hp[:], hp) {
				t.Fatalf("version %#x dcid %x: keys differ from crypto/hkdf", v, dcid)
			}
		}
	}
	for _, v := range []uint32{0x1234, 0xff000016, 0xff000023, 0x51303436} {
		if _, ok := quicClientInitialKeys(v, nil); ok {
			t.Errorf("keys for unknown version %#x", v)
		}
	}
}

func rfcPlainPayload(t testing.TB) []byte {
	return append(unhex(t, rfcCryptoFrame), make([]byte, rfcPadding)...)
}

// TestQUICRFCPacketsAreConsistent protects the RFC plaintext with the
// standard library and checks it gives the RFC's protected bytes: the
// vectors typed in this file are right, whatever the code under test does.
func TestQUICRFCPacketsAreConsistent(t *testing.T) {
	dcid := unhex(t, rfcDCID)
	for _, tc := range []struct {
		header, packet string
		salt           []byte
		v2             bool
	}{{rfc9001Header, rfc9001Packet, quicSaltV1[:], false}, {rfc9369Header, rfc9369Packet, quicSaltV2[:], true}} {
		_, key, iv, hp := refKeys(t, tc.salt, dcid, tc.v2)
		got := seal(t, key, iv, hp, unhex(t, tc.header), 4, 2, rfcPlainPayload(t))
		if want := unhex(t, tc.packet); !bytes.Equal(got, want) {
			t.Fatalf("sealing the RFC plaintext does not give the RFC packet (%d vs %d bytes)", len(got), len(want))
		}
	}
}

func TestQUICInitialRFC(t *testing.T) {
	for _, tc := range []struct {
		name    string
		packet  string
		version uint32
	}{{"RFC9001-A.2", rfc9001Packet, quicV1}, {"RFC9369-A.2", rfc9369Packet, quicV2}} {
		t.Run(tc.name, func(t *testing.T) {
			pkt := unhex(t, tc.packet)
			orig := slices.Clone(pkt)
			// the whole 1200-byte datagram, a 512-byte head, and shorter heads
			// that still hold the server name (it ends at byte 96 of the
			// CRYPTO data, byte 22+4+96 of the packet)
			for _, n := range []int{len(pkt), 512, 300, 130} {
				v, h, ok := quicInitial(pkt[:n])
				if !ok || v != tc.version {
					t.Fatalf("head %d: ok=%v version=%#x", n, ok, v)
				}
				if h.SNI != "example.com" {
					t.Errorf("head %d: SNI %q", n, h.SNI)
				}
				if n >= 300 {
					if h.Version != 0x0304 || !slices.Equal(h.ALPN, []string{"alpn"}) {
						t.Errorf("head %d: version %#x ALPN %q", n, h.Version, h.ALPN)
					}
				}
			}
			if !bytes.Equal(pkt, orig) {
				t.Error("quicInitial modified its input")
			}
			// the decrypted bytes are the RFC plaintext
			var d quicDecoder
			h, _ := parseQUICLong(pkt)
			plain := d.decrypt(pkt, &h)
			want := rfcPlainPayload(t)[:quicScratch]
			if !bytes.Equal(plain, want) {
				t.Errorf("decrypted payload differs from the RFC plaintext:\n got %x\nwant %x", plain[:64], want[:64])
			}
			// every cut: no panic; ok once the header is whole
			for n := 0; n <= len(pkt); n++ {
				v, h, ok := quicInitial(pkt[:n])
				if n >= 22 && (!ok || v != tc.version) {
					t.Fatalf("cut at %d: ok=%v version %#x", n, ok, v)
				}
				if h.SNI != "" && h.SNI != "example.com" {
					t.Fatalf("cut at %d: SNI %q", n, h.SNI)
				}
			}
		})
	}
}

// chloForQUIC is a ClientHello handshake message (not in a record) built by
// the TLS test helper.
func chloForQUIC(t testing.TB, sni string) []byte {
	rec := buildClientHello(helloSpec{sni: sni, alpn: []string{"h3"}, versions: []uint16{0x0a0a, 0x0304}, padTo: 600})
	return rec[5:]
}

type cryptoPiece struct {
	off  int
	data []byte
}

// buildInitial seals a client Initial packet whose payload is the given
// frames, in the given order, padded to 1162 bytes.
func buildInitial(t testing.TB, version uint32, dcid, scid, token []byte, pnLen int, pn uint64, frames []byte) []byte {
	t.Helper()
	first := byte(0xc0)
	salt := quicSaltV1[:]
	if version == quicV2 {
		first = 0xd0
		salt = quicSaltV2[:]
	}
	first |= byte(pnLen - 1)
	payload := append(slices.Clone(frames), make([]byte, max(0, 1162-len(frames)))...)
	h := []byte{first}
	h = binary.BigEndian.AppendUint32(h, version)
	h = append(h, byte(len(dcid)))
	h = append(h, dcid...)
	h = append(h, byte(len(scid)))
	h = append(h, scid...)
	h = appendVarint(h, uint64(len(token)))
	h = append(h, token...)
	h = appendVarint2(h, uint64(pnLen+len(payload)+16))
	for i := pnLen - 1; i >= 0; i-- {
		h = append(h, byte(pn>>(8*i)))
	}
	_, key, iv, hp := refKeys(t, salt, dcid, version == quicV2)
	return seal(t, key, iv, hp, h, pnLen, pn, payload)
}

func appendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return append(b, 0x40|byte(v>>8), byte(v))
	case v < 1<<30:
		return append(b, 0x80|byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return binary.BigEndian.AppendUint64(b, v|0xc0<<56)
}

// appendVarint2 always uses the 2-byte form, as QUIC stacks do for Length.
func appendVarint2(b []byte, v uint64) []byte { return append(b, 0x40|byte(v>>8), byte(v)) }

func cryptoFrameBytes(off int, data []byte) []byte {
	f := []byte{0x06}
	f = appendVarint(f, uint64(off))
	f = appendVarint(f, uint64(len(data)))
	return append(f, data...)
}

// TestQUICInitialSplitCrypto builds Chrome-like Initial packets: the
// ClientHello cut into several CRYPTO frames sent out of order between PING
// and PADDING frames, after an ACK, with various CIDs, tokens and packet
// number lengths.
func TestQUICInitialSplitCrypto(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for iter := 0; iter < 200; iter++ {
		version := uint32(quicV1)
		if iter%2 == 1 {
			version = quicV2
		}
		sni := strings.Repeat("a", 1+r.IntN(30)) + ".example.org"
		chlo := chloForQUIC(t, sni)
		dcid := make([]byte, 8+r.IntN(13))
		for i := range dcid {
			dcid[i] = byte(r.IntN(256))
		}
		scid := make([]byte, r.IntN(21))
		var token []byte
		if r.IntN(3) == 0 {
			token = make([]byte, 1+r.IntN(60))
		}
		// cut the first 400 bytes of the hello into 1..6 pieces
		head := chlo[:400]
		cuts := []int{0, len(head)}
		for k := r.IntN(6); k > 0; k-- {
			cuts = append(cuts, 1+r.IntN(len(head)-1))
		}
		slices.Sort(cuts)
		cuts = slices.Compact(cuts)
		var pieces [][]byte
		for i := 0; i+1 < len(cuts); i++ {
			pieces = append(pieces, cryptoFrameBytes(cuts[i], head[cuts[i]:cuts[i+1]]))
		}
		r.Shuffle(len(pieces), func(i, j int) { pieces[i], pieces[j] = pieces[j], pieces[i] })
		var frames []byte
		if r.IntN(2) == 0 {
			frames = append(frames, 0x02, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00) // ACK with one extra range
		}
		for _, p := range pieces {
			frames = append(frames, p...)
			switch r.IntN(3) {
			case 0:
				frames = append(frames, 0x01) // PING
			case 1:
				frames = append(frames, make([]byte, r.IntN(8))...) // PADDING
			}
		}
		pnLen := 1 + r.IntN(4)
		pkt := buildInitial(t, version, dcid, scid, token, pnLen, uint64(r.IntN(1<<(8*pnLen-1))), frames)
		// the head a probe sees: generous enough for all frames of the
		// 400-byte hello prefix plus headers
		headSize := min(len(pkt), 600)
		v, h, ok := quicInitial(pkt[:headSize])
		if !ok || v != version {
			t.Fatalf("iter %d: ok=%v version %#x", iter, ok, v)
		}
		if h.SNI != sni {
			t.Fatalf("iter %d (%d pieces, pn %d bytes, dcid %d, token %d): SNI %q, want %q", iter, len(pieces), pnLen, len(dcid), len(token), h.SNI, sni)
		}
	}
}

// TestQUICInitialNotFromOffsetZero: a packet carrying only later CRYPTO
// data is still an Initial, without a name.
func TestQUICInitialNotFromOffsetZero(t *testing.T) {
	chlo := chloForQUIC(t, "late.example")
	pkt := buildInitial(t, quicV1, []byte{1, 2, 3, 4, 5, 6, 7, 8}, nil, nil, 2, 1, cryptoFrameBytes(100, chlo[100:300]))
	v, h, ok := quicInitial(pkt[:512])
	if !ok || v != quicV1 || h.SNI != "" {
		t.Fatalf("ok=%v version=%#x SNI=%q", ok, v, h.SNI)
	}
}

func TestIsQUICLongHeader(t *testing.T) {
	v1 := unhex(t, rfc9001Packet)
	if v, ok := isQUICLongHeader(v1[:64]); !ok || v != quicV1 {
		t.Errorf("RFC 9001 packet: %#x %v", v, ok)
	}
	v2 := unhex(t, rfc9369Packet)
	if v, ok := isQUICLongHeader(v2[:64]); !ok || v != quicV2 {
		t.Errorf("RFC 9369 packet: %#x %v", v, ok)
	}
	// Version Negotiation (RFC 9000 17.2.1): version 0, CIDs, versions
	vn := []byte{0x80 | 0x2a, 0, 0, 0, 0, 4, 1, 2, 3, 4, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 1, 0x6b, 0x33, 0x43, 0xcf}
	if v, ok := isQUICLongHeader(vn); !ok || v != 0 {
		t.Errorf("version negotiation: %#x %v", v, ok)
	}
	if _, ok := isQUICLongHeader(vn[:len(vn)-8]); ok {
		t.Error("version negotiation without versions accepted")
	}
	bad := func(name string, b []byte) {
		t.Helper()
		if v, ok := isQUICLongHeader(b); ok {
			t.Errorf("%s: accepted as version %#x", name, v)
		}
	}
	mod := func(i int, x byte) []byte { b := slices.Clone(v1[:64]); b[i] = x; return b }
	bad("short header", mod(0, 0x40))
	bad("fixed bit clear", mod(0, 0x80))
	bad("unknown version", mod(4, 7))
	bad("DCID length 21", mod(5, 21))
	bad("DCID past the end", v1[:12])
	bad("SCID length 21", mod(14, 21))
	bad("token past the end", mod(15, 0x3f))
	tiny := slices.Clone(v1[:64])
	tiny[16], tiny[17] = 0x40, 0x05 // Length 5 < packet number + sample
	bad("Length 5", tiny)
	bad("empty", nil)
	// draft-29 header is known
	d29 := slices.Clone(v1[:64])
	binary.BigEndian.PutUint32(d29[1:], quicDraft29)
	if v, ok := isQUICLongHeader(d29); !ok || v != quicDraft29 {
		t.Errorf("draft-29: %#x %v", v, ok)
	}
	// random bytes with the long-header bits set almost never pass
	r := rand.New(rand.NewPCG(5, 6))
	buf := make([]byte, 512)
	passed := 0
	for i := 0; i < 200000; i++ {
		for j := range buf {
			buf[j] = byte(r.Uint32())
		}
		buf[0] |= 0xc0
		if _, ok := isQUICLongHeader(buf); ok {
			passed++
		}
	}
	if passed > 0 {
		t.Errorf("%d of 200000 random long-header-looking buffers passed", passed)
	}
}

func TestQUICInitialRejects(t *testing.T) {
	v1 := unhex(t, rfc9001Packet)
	// a Handshake packet (type 2, no token field) is a long header but no Initial
	hs := append(slices.Clone(v1[:15]), v1[16:]...)
	hs[0] = 0xe0
	if _, ok := isQUICLongHeader(hs); !ok {
		t.Error("handshake long header refused")
	}
	if _, _, ok := quicInitial(hs); ok {
		t.Error("handshake packet taken for an Initial")
	}
	// v2 numbering: 0b00 is Retry in v2, so a v2 packet with v1 Initial bits is no Initial
	v2 := unhex(t, rfc9369Packet)
	v2[0] = 0xc0 | v2[0]&0x0f
	if _, _, ok := quicInitial(v2); ok {
		t.Error("v2 retry bits taken for an Initial")
	}
	// a wrong DCID gives no name but still an Initial
	wrong := slices.Clone(v1)
	wrong[6] ^= 1
	if _, h, ok := quicInitial(wrong); !ok || h.SNI != "" {
		t.Errorf("wrong DCID: ok=%v SNI=%q", ok, h.SNI)
	}
}

func FuzzQUICInitial(f *testing.F) {
	f.Add(unhex(f, rfc9001Packet)[:512])
	f.Add(unhex(f, rfc9369Packet)[:512])
	f.Add(unhex(f, rfc9001Packet)[:40])
	f.Add([]byte{0xc0, 0, 0, 0, 1, 0, 0, 0, 0x40, 0x20})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, h, ok := quicInitial(b)
		if ok {
			if _, lok := isQUICLongHeader(b); !lok {
				t.Fatal("Initial that is no long header")
			}
			if v != quicV1 && v != quicV2 && !quicVersionKnown(v) {
				t.Fatalf("version %#x", v)
			}
		}
		checkHello(t, h)
	})
}

// checkHello asserts the invariants of any parse result.
func checkHello(t *testing.T, h clientHello) {
	t.Helper()
	if len(h.SNI) > 255 {
		t.Fatalf("SNI of %d bytes", len(h.SNI))
	}
	for i := 0; i < len(h.SNI); i++ {
		if c := h.SNI[i]; c <= 0x20 || c >= 0x7f {
			t.Fatalf("SNI %q not printable", h.SNI)
		}
	}
	for _, a := range h.ALPN {
		if a == "" {
			t.Fatal("empty ALPN name")
		}
	}
}

func BenchmarkQUICInitial(b *testing.B) {
	pkt := unhex(b, rfc9001Packet)[:512]
	b.Run("same-dcid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, h, ok := quicInitial(pkt); !ok || h.SNI == "" {
				b.Fatal("no SNI")
			}
		}
	})
	b.Run("view-same-dcid", func(b *testing.B) {
		var d quicDecoder
		b.ReportAllocs()
		for b.Loop() {
			if v, _, ok := d.initialView(pkt); !ok || v.sni == nil {
				b.Fatal("no SNI")
			}
		}
	})
	b.Run("new-dcid", func(b *testing.B) {
		// a new connection each time: key schedule and cipher setup included
		var d quicDecoder
		b.ReportAllocs()
		for b.Loop() {
			d.cached = false
			if v, _, ok := d.initialView(pkt); !ok || v.sni == nil {
				b.Fatal("no SNI")
			}
		}
	})
	b.Run("not-quic", func(b *testing.B) {
		junk := bytes.Repeat([]byte{0x17, 0x03, 0x03}, 100)
		b.ReportAllocs()
		for b.Loop() {
			if _, _, ok := quicInitial(junk); ok {
				b.Fatal("junk accepted")
			}
		}
	})
}

// TestRealQUICAgainstTshark reads the QUIC captures of the shared real
// captures and compares the names quicInitial finds in 512-byte heads with
// those Wireshark decodes from the whole packets. The expected names are
// tshark 4.0.17's:
//
//	tshark -r F -Y 'quic && tls.handshake.type==1' -T fields -e quic.version -e tls.handshake.extensions_server_name
//
// A name from a head must be one of them; names whose CRYPTO data starts
// beyond the head (Chrome may put 500+ bytes of PADDING and PING first) or
// continue in a later packet are missed and reported.
func TestRealQUICAgainstTshark(t *testing.T) {
	if testing.Short() {
		t.Skip("reads real captures")
	}
	dir := probetest.RealCapturesDir(t)
	want := map[string][]string{
		"ndpi/quic-v2.pcapng":         {"test"},
		"ndpi/quic_0RTT.pcap":         {"ssl.gstatic.com", "abcd"},
		"ndpi/doq.pcapng":             {""},
		"ndpi/sites.pcapng":           {"classroom.google.com", "plus.google.com", "www.threads.net", "hangouts.google.com"},
		"tcpdump/quic_handshake.pcap": {"localhost"},
		"zeek/quic__chromium-115.0.5790.110-api-cirrus-com.pcap": {"api.cirrus-ci.com"},
		"zeek/quic__quicv2-echo-443.pcap":                        {"localhost"},
	}
	found, total := 0, 0
	for file, names := range want {
		got := map[string]bool{}
		initials := 0
		err := readCapturePackets(filepath.Join(dir, file), func(k flowKey, p []byte) {
			if k.proto != "UDP" {
				return
			}
			if _, h, ok := quicInitial(p[:min(len(p), 512)]); ok {
				initials++
				if h.SNI != "" {
					got[h.SNI] = true
				}
			}
		})
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if initials == 0 {
			t.Errorf("%s: no QUIC Initial found", file)
		}
		for n := range got {
			if !slices.Contains(names, n) {
				t.Errorf("%s: name %q is not one tshark decodes (%q)", file, n, names)
			}
		}
		for _, n := range names {
			if n == "" {
				continue
			}
			total++
			if got[n] {
				found++
			} else {
				t.Logf("%s: %q not in a 512-byte head", file, n)
			}
		}
	}
	t.Logf("QUIC names from 512-byte heads: %d of the %d tshark decodes from whole packets", found, total)
	if found < total/2 {
		t.Errorf("only %d of %d QUIC names found", found, total)
	}
}

// FuzzQUICFrames fuzzes the frame walk and CRYPTO reassembly of decrypted
// Initial payloads directly (random packets almost never decrypt to
// anything frame-shaped).
func FuzzQUICFrames(f *testing.F) {
	f.Add(rfcPlainPayload(f)[:quicScratch])
	chlo := chloForQUIC(f, "frames.example")
	var split []byte
	split = append(split, cryptoFrameBytes(100, chlo[100:200])...)
	split = append(split, 0x01, 0x00, 0x00)
	split = append(split, 0x03, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03)
	split = append(split, cryptoFrameBytes(0, chlo[:100])...)
	f.Add(split)
	f.Add([]byte{0x02, 0x00, 0x00, 0x3f})
	f.Fuzz(func(t *testing.T, p []byte) {
		var d quicDecoder
		s := d.cryptoStream(p)
		if len(s) > quicScratch && len(s) > len(p) {
			t.Fatalf("stream of %d bytes from %d", len(s), len(p))
		}
		v, _ := clientHelloMessage(s, false)
		checkHello(t, v.hello())
	})
}
