// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Steering (user clock): destination MAC (+ optional VLAN ID) exact-match table -> queue;
// broadcast/multicast and, in promiscuous mode, unmatched unicast -> the frame's RSS queue;
// other unmatched unicast -> drop, reason FILTERED.
//
// MAC byte order: mac[47:40] is the first byte on the wire, so the I/G (group) bit is mac[40].
//
// Verdict, first rule that applies (m_res_rule):
//   RULE_BROADCAST  dst = ff:ff:ff:ff:ff:ff         -> s_req_rss_queue
//   RULE_MULTICAST  other dst with I/G = 1           -> s_req_rss_queue (the table is not used)
//   RULE_MATCH      unicast, a valid entry matches   -> that entry's queue (lowest index wins)
//   RULE_PROMISC    unicast, no match, promisc = 1   -> s_req_rss_queue
//   RULE_FILTERED   unicast, no match, promisc = 0   -> drop (m_res_drop, DROP_REASON_FILTERED)
// An entry matches when it is valid, its MAC equals dst and, if its vlan_match_en is set, the
// frame has a VLAN tag (s_req_vlan_present) whose ID equals the entry's vlan_id; an entry with
// vlan_match_en = 0 matches tagged and untagged frames alike. Entries holding a group MAC
// never match (group frames are decided before the table).
//
// Table: ENTRIES entries, written one at a time through tbl_wr_* (writes to an index >= ENTRIES
// are ignored). Valid bits reset to 0, and tbl_clear empties the table (a write in the same cycle
// is lost); the other fields are not reset. A lookup uses the table
// as it is in the cycle its request is accepted (a write in that same cycle is seen by later
// requests only), and takes one cycle: the result is on m_res the cycle after the accepting
// edge; one request per cycle. s_req_ready = !m_res_valid || m_res_ready (combinational from
// m_res_ready); m_res_* hold while m_res_valid && !m_res_ready. promisc is sampled with the
// request.
module rx_steer #(
    // Exact-match table entries (16 or more).
    parameter int unsigned ENTRIES = 16,
    // Queue number width in bits.
    parameter int unsigned Q_W     = 6
) (
    input  logic                       clk,
    input  logic                       rst,

    // ---- configuration (plain levels; registers later) ----
    input  logic                       promisc,            // unmatched unicast -> RSS queue
    input  logic                       tbl_clear,          // every entry invalid (core reset)
    input  logic                       tbl_wr_en,          // write entry tbl_wr_idx
    input  logic [$clog2(ENTRIES)-1:0] tbl_wr_idx,
    input  logic                       tbl_wr_valid,       // entry in use
    input  logic [47:0]                tbl_wr_mac,         // [47:40] = first byte on the wire
    input  logic                       tbl_wr_vlan_match_en,  // also require VLAN ID vlan_id
    input  logic [11:0]                tbl_wr_vlan_id,
    input  logic [Q_W-1:0]             tbl_wr_queue,

    // ---- lookup request ----
    input  logic                       s_req_valid,
    output logic                       s_req_ready,
    input  logic [47:0]                s_req_dst_mac,      // [47:40] = first byte on the wire
    input  logic                       s_req_vlan_present, // the frame has a VLAN tag
    input  logic [11:0]                s_req_vlan_id,      // its (outermost) VLAN ID
    input  logic [Q_W-1:0]             s_req_rss_queue,    // this frame's RSS queue

    // ---- result ----
    output logic                       m_res_valid,
    input  logic                       m_res_ready,
    output logic [Q_W-1:0]             m_res_queue,        // 0 when dropped
    output logic                       m_res_drop,         // drop the frame
    output logic [3:0]                 m_res_drop_reason,  // DROP_REASON_FILTERED when dropped
    output logic [2:0]                 m_res_rule,         // RULE_* below
    output logic [$clog2(ENTRIES)-1:0] m_res_entry         // matching entry (RULE_MATCH), else 0
);

    import splitrx_records_pkg::*;

    // Which rule decided (m_res_rule).
    // Rule codes: model/records.py SteerRule, via the generated package
    localparam logic [2:0] RULE_MATCH     = 3'(STEER_RULE_MATCH);
    localparam logic [2:0] RULE_BROADCAST = 3'(STEER_RULE_BROADCAST);
    localparam logic [2:0] RULE_MULTICAST = 3'(STEER_RULE_MULTICAST);
    localparam logic [2:0] RULE_PROMISC   = 3'(STEER_RULE_PROMISC);
    localparam logic [2:0] RULE_FILTERED  = 3'(STEER_RULE_FILTERED);

    localparam int unsigned IDX_W = $clog2(ENTRIES);

    if (ENTRIES < 16) begin : g_check_entries
        $fatal(0, "rx_steer: ENTRIES must be at least 16 (instance %m)");
    end
    if (Q_W < 1 || Q_W > 16) begin : g_check_qw
        $fatal(0, "rx_steer: Q_W must be in 1..16 (instance %m)");
    end
    if (DROP_REASON_COUNT > 16) begin : g_check_reasons
        $fatal(0, "rx_steer: drop reasons no longer fit m_res_drop_reason (instance %m)");
    end

    // ---------------------------------------------------------------------------------------
    // Table: valid bits are control state (reset), the rest is unreset storage
    // ---------------------------------------------------------------------------------------
    logic [ENTRIES-1:0] tbl_valid_q, tbl_valid_d;
    logic [47:0]        tbl_mac     [ENTRIES];
    logic               tbl_vlan_en [ENTRIES];
    logic [11:0]        tbl_vlan_id [ENTRIES];
    logic [Q_W-1:0]     tbl_queue   [ENTRIES];

    // ---- control state ----
    logic                m_valid_q, m_valid_d;

    // ---- datapath registers (unreset) ----
    logic [Q_W-1:0]      m_queue_q, m_queue_d;
    logic                m_drop_q, m_drop_d;
    logic [2:0]          m_rule_q, m_rule_d;
    logic [IDX_W-1:0]    m_entry_q, m_entry_d;

    // ---- combinational ----
    logic                wr_hit;        // a table write to an existing entry
    logic                accept;        // request handshake
    logic [ENTRIES-1:0]  match;         // per-entry match of the request
    logic                hit;           // some entry matches
    logic [IDX_W-1:0]    hit_idx;       // lowest matching entry
    logic                group;         // I/G bit: broadcast or multicast
    logic                bcast;

    assign wr_hit = tbl_wr_en && 32'(tbl_wr_idx) < ENTRIES;

    always_comb begin
        tbl_valid_d = tbl_valid_q;
        if (tbl_clear) begin
            tbl_valid_d = '0;
        end else if (wr_hit) begin
            tbl_valid_d[tbl_wr_idx] = tbl_wr_valid;
        end
    end

    always_ff @(posedge clk) begin
        if (wr_hit) begin
            tbl_mac[tbl_wr_idx]     <= tbl_wr_mac;
            tbl_vlan_en[tbl_wr_idx] <= tbl_wr_vlan_match_en;
            tbl_vlan_id[tbl_wr_idx] <= tbl_wr_vlan_id;
            tbl_queue[tbl_wr_idx]   <= tbl_wr_queue;
        end
    end

    // ---------------------------------------------------------------------------------------
    // Lookup
    // ---------------------------------------------------------------------------------------
    always_comb begin
        for (int e = 0; e < int'(ENTRIES); e++) begin
            match[e] = tbl_valid_q[e] && tbl_mac[e] == s_req_dst_mac &&
                       (!tbl_vlan_en[e] || (s_req_vlan_present && tbl_vlan_id[e] == s_req_vlan_id));
        end
    end

    always_comb begin
        hit     = 1'b0;
        hit_idx = '0;
        for (int e = int'(ENTRIES) - 1; e >= 0; e--) begin
            if (match[e]) begin
                hit     = 1'b1;
                hit_idx = IDX_W'(e);
            end
        end
    end

    always_comb begin
        m_valid_d = m_valid_q;
        m_queue_d = m_queue_q;
        m_drop_d  = m_drop_q;
        m_rule_d  = m_rule_q;
        m_entry_d = m_entry_q;

        group       = s_req_dst_mac[40];
        bcast       = &s_req_dst_mac;
        s_req_ready = !m_valid_q || m_res_ready;
        accept      = s_req_valid && s_req_ready;

        if (s_req_ready) begin
            m_valid_d = accept;
        end
        if (accept) begin
            m_queue_d = s_req_rss_queue;
            m_drop_d  = 1'b0;
            m_entry_d = '0;
            if (bcast) begin
                m_rule_d = RULE_BROADCAST;
            end else if (group) begin
                m_rule_d = RULE_MULTICAST;
            end else if (hit) begin
                m_rule_d  = RULE_MATCH;
                m_queue_d = tbl_queue[hit_idx];
                m_entry_d = hit_idx;
            end else if (promisc) begin
                m_rule_d = RULE_PROMISC;
            end else begin
                m_rule_d  = RULE_FILTERED;
                m_queue_d = '0;
                m_drop_d  = 1'b1;
            end
        end
    end

    always_ff @(posedge clk) begin
        m_queue_q <= m_queue_d;
        m_drop_q  <= m_drop_d;
        m_rule_q  <= m_rule_d;
        m_entry_q <= m_entry_d;
    end

    // ---------------------------------------------------------------------------------------
    // Control registers
    // ---------------------------------------------------------------------------------------
    always_ff @(posedge clk) begin
        if (rst) begin
            tbl_valid_q <= '0;
            m_valid_q   <= 1'b0;
        end else begin
            tbl_valid_q <= tbl_valid_d;
            m_valid_q   <= m_valid_d;
        end
    end

    // ---------------------------------------------------------------------------------------
    // Outputs
    // ---------------------------------------------------------------------------------------
    assign m_res_valid       = m_valid_q;
    assign m_res_queue       = m_queue_q;
    assign m_res_drop        = m_drop_q;
    assign m_res_drop_reason = m_drop_q ? 4'(DROP_REASON_FILTERED) : 4'd0;
    assign m_res_rule        = m_rule_q;
    assign m_res_entry       = m_entry_q;

endmodule

`resetall
