package bpf

import (
	"crypto/sha256"
	"net/netip"

	"github.com/cilium/ebpf"
)

// Exported names for the generated types other packages use.
type (
	FlowKey    = xdpFlowKey
	FlowValue  = xdpFlowValue
	StatValue  = xdpStatValue
	StatReason = xdpStatReason
	KeyField   = xdpKeyField
	SampleMode = xdpSampleMode
	AppSample  = xdpAppSample
	AppState   = xdpAppState
	RouteOut   = xdpRouteOut
	IfmapValue = xdpIfmapValue
	SlotFill   = xdpSlotFill
)

// FlowOverflow marks the key of an overflow record (in FlowKey.Direction).
const FlowOverflow = uint8(xdpFlowMarkFLOW_OVERFLOW)

// Entries of flows_slot.
const (
	SlotFlows    = uint32(xdpSlotEntrySLOT_FLOWS)
	SlotOverflow = uint32(xdpSlotEntrySLOT_OVERFLOW)
)

// Tunnels the datapath can open (cfg_decap bits).
const (
	DecapVXLAN  = xdpDecapDECAP_VXLAN
	DecapGENEVE = xdpDecapDECAP_GENEVE
	DecapERSPAN = xdpDecapDECAP_ERSPAN
)

// Kinds of tunnel id (its high byte).
const (
	TunnelVNI     = xdpTunnelKindTUNNEL_VNI
	TunnelSession = xdpTunnelKindTUNNEL_SESSION
)

// Directions of a VLAN entry of the interface map.
const (
	IfmapInput  = xdpIfmapDirIFMAP_INPUT
	IfmapOutput = xdpIfmapDirIFMAP_OUTPUT
)

// Where a flow's packets were counted (FlowKey.Direction): IPFIX's
// flowDirection values.
const (
	DirIngress = xdpFlowDirectionDIR_INGRESS
	DirEgress  = xdpFlowDirectionDIR_EGRESS
)

// Where the FIB sends a flow (FlowValue.Out, with cfg_route).
const (
	RouteUnknown = xdpRouteOutROUTE_UNKNOWN
	RouteIface   = xdpRouteOutROUTE_IFACE
	RouteLocal   = xdpRouteOutROUTE_LOCAL
	RouteNull    = xdpRouteOutROUTE_NULL
)

// Outcomes and informational reasons of the stats map.
const (
	StatAccounted   = xdpStatReasonSTAT_ACCOUNTED
	StatNotIP       = xdpStatReasonSTAT_NOT_IP
	StatTruncated   = xdpStatReasonSTAT_TRUNCATED
	StatMalformed   = xdpStatReasonSTAT_MALFORMED
	StatUnsupported = xdpStatReasonSTAT_UNSUPPORTED
	StatSampledOut  = xdpStatReasonSTAT_SAMPLED_OUT
	StatMapFull     = xdpStatReasonSTAT_MAP_FULL
	StatDuplicate   = xdpStatReasonSTAT_DUPLICATE
	StatOverflow    = xdpStatReasonSTAT_OVERFLOW
	StatOutcomes    = xdpStatReasonSTAT_OUTCOMES
	StatNoL4        = xdpStatReasonSTAT_NO_L4
	StatAppSampled  = xdpStatReasonSTAT_APP_SAMPLED
	StatAppDropped  = xdpStatReasonSTAT_APP_DROPPED
	StatMax         = xdpStatReasonSTAT_MAX
)

// Key fields the datapath can keep (cfg_key_fields bits).
const (
	KeySrcAddr = xdpKeyFieldKEY_SRC_ADDR
	KeyDstAddr = xdpKeyFieldKEY_DST_ADDR
	KeySrcPort = xdpKeyFieldKEY_SRC_PORT
	KeyDstPort = xdpKeyFieldKEY_DST_PORT
	KeyProto   = xdpKeyFieldKEY_PROTO
	KeyToS     = xdpKeyFieldKEY_TOS
	KeyIfindex = xdpKeyFieldKEY_IFINDEX
	KeyVLAN    = xdpKeyFieldKEY_VLAN
	KeyAll     = xdpKeyFieldKEY_ALL
)

// Sampling modes (cfg_sample_mode).
const (
	SampleNone          = xdpSampleModeSAMPLE_NONE
	SampleDeterministic = xdpSampleModeSAMPLE_DETERMINISTIC
	SampleRandom        = xdpSampleModeSAMPLE_RANDOM
)

// Names of the objects in the collection.
const (
	MapFlowsA      = xdpMapFlowsA
	MapFlowsB      = xdpMapFlowsB
	MapFlowsSlot   = xdpMapFlowsSlot
	MapOverflowA   = xdpMapOverflowA
	MapOverflowB   = xdpMapOverflowB
	MapFillLevel   = xdpMapFillLevel
	MapFillSignal  = xdpMapFillSignal
	MapStats       = xdpMapStats
	MapSampleCount = xdpMapSampleCount
	MapAppState    = xdpMapAppState
	MapAppSamples  = xdpMapAppSamples
	MapDedup       = xdpMapDedup
	MapIfmapVLAN   = xdpMapIfmapVlan
	MapIfmapMAC    = xdpMapIfmapMac
	MapIfmapTunnel = xdpMapIfmapTunnel
	ProgFlow       = xdpProgXdpFlow
	ProgEgress     = xdpProgTcEgress
	VarKeyFields   = xdpVarCfgKeyFields
	VarSampleMode  = xdpVarCfgSampleMode
	VarSampleRate  = xdpVarCfgSampleRate
	VarAction      = xdpVarCfgAction
	VarCoarseClock = xdpVarCfgCoarseClock
	VarClassify    = xdpVarCfgClassify
	VarBudgetTCP   = xdpVarCfgAppBudgetTcp
	VarBudgetUDP   = xdpVarCfgAppBudgetUdp
	VarRoute       = xdpVarCfgRoute
	VarDedupNs     = xdpVarCfgDedupNs
	VarIfmap       = xdpVarCfgIfmap
	VarDecap       = xdpVarCfgDecap
	VarVXLANPort   = xdpVarCfgVxlanPort
	VarGENEVEPort  = xdpVarCfgGenevePort
	VarFillSignal  = xdpVarCfgFillSignal
)

// AppFirst marks a sample of a direction's first packet (AppSample.Note.Flags).
const AppFirst = xdpAppSampleFlagAPP_FIRST

// LoadSpec returns the embedded collection spec of the XDP program.
func LoadSpec() (*ebpf.CollectionSpec, error) { return loadXdp() }

// SrcIP returns the source address, unmapped for IPv4.
func (k *FlowKey) SrcIP() netip.Addr { return netip.AddrFrom16(k.SrcAddr).Unmap() }

// DstIP returns the destination address, unmapped for IPv4.
func (k *FlowKey) DstIP() netip.Addr { return netip.AddrFrom16(k.DstAddr).Unmap() }

// ObjectHash identifies this build of the XDP program: pinned state left
// by a different build is not adopted.
func ObjectHash() [32]byte { return sha256.Sum256(_XdpBytes) }
