// SPDX-License-Identifier: MIT
//
// 10G Ethernet MAC receive: XGMII 64-bit SDR (156.25 MHz) in, one AXI-stream frame per /S/ out.
//
// Wire side
// - /S/ (0xFB, control) on lane 0 or lane 4 starts a frame. The rest of that 8-byte start word
//   must be the preamble 0x55 x6 and the SFD 0xD5 (data, not control); it is stripped.
// - /T/ (0xFD, control) in any lane ends the frame; the frame is every byte between the SFD
//   and /T/, FCS included ("frame bytes" below, as on the wire: 64..MAX_FRAME_BYTES is good).
// - Any other control character before /T/ (/E/ 0xFE, /I/, a stray /S/, ...) ends the frame
//   at that lane as an XGMII error (a /S/ on lane 0 or 4 there also starts the next frame).
//   A control character inside the preamble ends the frame before any byte: it is reported
//   as one zero-byte beat (tkeep 0) with XGMII error status, and is never itself a new start.
// - Gaps: a new /S/ is honoured anywhere after the end of the previous frame, also in the
//   same word (/T/ in lanes 0..3, /S/ in lane 4) and in lane 0 right after /T/ in lane 7,
//   so the 5-byte minimum (and less) is received at full rate. The input is registered twice
//   and read through two views, lane-0 aligned (previous word) and lane-4 aligned (upper
//   half of the previous word + lower half of the newest), so a frame is always word aligned.
//
// CRC: real IEEE 802.3 CRC-32 (crc32_eth), 8 bytes per clock, plus 1..7-byte steps for the
// last word; the FCS is stepped in too and the state must end at the residue 0xDEBB20E3.
//
// Stream side (no back-pressure: a downstream FIFO absorbs and drops)
// - m_axis_tdata byte k = lane k, first frame byte in lane 0 of the first beat; every beat
//   but the last has tkeep 8'hFF; the last beat's tkeep is contiguous from lane 0 (8'h00 only
//   for a frame with no byte to forward: a zero-byte beat, always marked bad).
// - FCS_KEEP=0 strips the last 4 frame bytes, FCS_KEEP=1 forwards them.
// - m_axis_tuser is valid with tlast (zero on other beats): tuser[0] = frame bad,
//   tuser[4:1] = drop reason (splitrx_records_pkg::DROP_REASON_*) when bad, else 0.
//
// Status, one reason per frame, by priority (highest first):
//   1. XGMII_ERROR  /E/ or any unexpected control character before /T/, or a start word whose
//                   preamble/SFD is not 0x55 x6, 0xD5 (a missing SFD)
//   2. RUNT         fewer than 64 frame bytes
//   3. OVERSIZE     more than MAX_FRAME_BYTES frame bytes
//   4. BAD_FCS      CRC-32 residue wrong
//   5. MAC_CONTROL  EtherType 0x8808 in bytes 12..13 (PAUSE etc.; untagged, as 802.3 sends
//                   them), forwarded whole and marked bad so the FIFO drops and counts it
// What a bad frame forwards: runt, bad FCS, MAC control: like a good frame; XGMII error: the
// bytes before the error character, minus the last 4 (FCS_KEEP=0) as if it were /T/;
// oversize: the first MAX_FRAME_BYTES frame bytes whatever FCS_KEEP is (the frame keeps being
// received, CRC and errors included, and tlast comes at /T/ or at the error).
//
// Latency: the last beat is on m_axis 1 or 2 clocks after the edge that samples /T/ (1 when /T/
// is in lanes 0..3 of a lane-4 frame), one more when the end needs two beats (FCS_KEEP, or an
// oversize frame). At most one beat per clock, so the output never falls behind the wire:
// each frame's start word takes a clock without a beat, which absorbs its second end beat or
// an end queued behind the previous frame's.

`resetall
`timescale 1ns / 1ps
`default_nettype none

// 10G MAC RX: XGMII 64-bit in, AXI-stream frames with CRC/length/error status out.
module mac_rx #(
    // Largest good frame in bytes, FCS included (64..65000; default: 9018-byte jumbo with two
    // VLAN tags).
    parameter int unsigned MAX_FRAME_BYTES = 9018 + 8,
    // 1: forward the 4 FCS bytes at the end of each frame; 0: strip them.
    parameter bit          FCS_KEEP = 1'b0
) (
    input  wire logic        clk,
    input  wire logic        rst,

    // XGMII receive: lane k is xgmii_rxd[8*k +: 8]; xgmii_rxc[k] = 1 marks a control character.
    input  wire logic [63:0] xgmii_rxd,
    input  wire logic [7:0]  xgmii_rxc,

    // Frames out (no tready): status in tuser with tlast.
    output logic      [63:0] m_axis_tdata,
    output logic      [7:0]  m_axis_tkeep,
    output logic             m_axis_tvalid,
    output logic             m_axis_tlast,
    output logic      [4:0]  m_axis_tuser
);

    // ---------------------------------------------------------------- constants
    localparam logic [7:0]  XGMII_IDLE = 8'h07;
    localparam logic [7:0]  XGMII_START = 8'hFB;
    localparam logic [7:0]  XGMII_TERM = 8'hFD;
    // Lanes 7..1 of a start word: SFD in lane 7, preamble 0x55 in lanes 1..6.
    localparam logic [55:0] PREAMBLE_SFD = {8'hD5, {6{8'h55}}};
    localparam logic [31:0] CRC_RESIDUE = 32'hDEBB20E3;
    localparam int unsigned MIN_FRAME_BYTES = 64;
    // Frame byte counter: counts to MAX_FRAME_BYTES + 8, plus up to 7 bytes of the last word.
    localparam int unsigned CNT_W = $clog2(MAX_FRAME_BYTES + 16);
    localparam logic [CNT_W-1:0] MAX_BYTES = CNT_W'(MAX_FRAME_BYTES);
    localparam logic [CNT_W-1:0] MIN_BYTES = CNT_W'(MIN_FRAME_BYTES);
    // EtherType 0x8808 as lanes 5..4 of the frame's second word (bytes 12, 13).
    localparam logic [15:0] ETYPE_MAC_CONTROL_LANES = 16'h0888;

    localparam logic [3:0] REASON_BAD_FCS = 4'(splitrx_records_pkg::DROP_REASON_BAD_FCS);
    localparam logic [3:0] REASON_RUNT = 4'(splitrx_records_pkg::DROP_REASON_RUNT);
    localparam logic [3:0] REASON_OVERSIZE = 4'(splitrx_records_pkg::DROP_REASON_OVERSIZE);
    localparam logic [3:0] REASON_XGMII_ERROR = 4'(splitrx_records_pkg::DROP_REASON_XGMII_ERROR);
    localparam logic [3:0] REASON_MAC_CONTROL = 4'(splitrx_records_pkg::DROP_REASON_MAC_CONTROL);

    if (MAX_FRAME_BYTES < MIN_FRAME_BYTES || MAX_FRAME_BYTES > 65000) begin : g_check
        $fatal(0, "mac_rx: MAX_FRAME_BYTES must be 64..65000, got %0d (instance %m)",
               MAX_FRAME_BYTES);
    end
    if (splitrx_records_pkg::DROP_REASON_COUNT > 16) begin : g_check_reasons
        $fatal(0, "mac_rx: drop reasons no longer fit tuser[4:1] (instance %m)");
    end

    // Keep mask for the first n (0..8) lanes.
    function automatic logic [7:0] keep_mask(input logic [3:0] n);
        return 8'((9'd1 << n) - 9'd1);
    endfunction

    // ---------------------------------------------------------------- input words
    // Control state (reset to idle so no /S/ is seen out of reset).
    logic [63:0] rxd_in_q, rxd_prev_q;
    logic [7:0]  rxc_in_q, rxc_prev_q;

    always_ff @(posedge clk) begin
        if (rst) begin
            rxd_in_q <= {8{XGMII_IDLE}};
            rxc_in_q <= '1;
            rxd_prev_q <= {8{XGMII_IDLE}};
            rxc_prev_q <= '1;
        end else begin
            rxd_in_q <= xgmii_rxd;
            rxc_in_q <= xgmii_rxc;
            rxd_prev_q <= rxd_in_q;
            rxc_prev_q <= rxc_in_q;
        end
    end

    // Two views of the stream: lane-0 aligned (A) and lane-4 aligned (B, four bytes later).
    logic [63:0] a_data, b_data;
    logic [7:0]  a_ctrl, b_ctrl;
    assign a_data = rxd_prev_q;
    assign a_ctrl = rxc_prev_q;
    assign b_data = {rxd_in_q[31:0], rxd_prev_q[63:32]};
    assign b_ctrl = {rxc_in_q[3:0], rxc_prev_q[7:4]};

    logic start_a, start_b;
    assign start_a = a_ctrl[0] && a_data[7:0] == XGMII_START;
    assign start_b = b_ctrl[0] && b_data[7:0] == XGMII_START;

    // ---------------------------------------------------------------- frame state
    typedef enum logic {
        ST_IDLE,   // between frames: looking for /S/ in either view
        ST_DATA    // inside a frame: one word of it per clock
    } state_t;

    typedef enum logic {
        ALIGN_0,   // frame started on lane 0: view A
        ALIGN_4    // frame started on lane 4: view B
    } align_t;

    state_t            state_q, state_d;
    align_t            align_q, align_d;
    logic              abort_q, abort_d;      // control character in the preamble: end now
    logic              xerr_q, xerr_d;        // bad preamble/SFD seen
    logic              mac_q, mac_d;          // EtherType 0x8808 seen
    logic              over_q, over_d;        // past MAX_FRAME_BYTES: forwarding stopped
    logic [CNT_W-1:0]  cnt_q, cnt_d;          // frame bytes in the full words taken so far
    logic [31:0]       crc_q, crc_d;
    // The last full word taken, held until the next word says whether it ends the frame.
    logic              pend_valid_q, pend_valid_d;
    logic [63:0]       pend_data_q, pend_data_d;
    logic [7:0]        pend_keep_q, pend_keep_d;
    // A last beat to send next clock (tail of a two-beat end, or an end stashed behind one).
    logic              tail_valid_q, tail_valid_d;
    logic [63:0]       tail_data_q, tail_data_d;
    logic [7:0]        tail_keep_q, tail_keep_d;
    logic [4:0]        tail_user_q, tail_user_d;
    // Output registers.
    logic              out_valid_q, out_valid_d;
    logic [63:0]       out_data_q, out_data_d;
    logic [7:0]        out_keep_q, out_keep_d;
    logic              out_last_q, out_last_d;
    logic [4:0]        out_user_q, out_user_d;

    // ---------------------------------------------------------------- current word
    logic [63:0] w_data;
    logic [7:0]  w_ctrl;
    assign w_data = (align_q == ALIGN_4) ? b_data : a_data;
    assign w_ctrl = (align_q == ALIGN_4) ? b_ctrl : a_ctrl;

    // First control lane of the word (8: none, a full data word).
    logic [3:0] ctrl_lane;
    always_comb begin
        ctrl_lane = 4'd8;
        for (int i = 7; i >= 0; i--) begin
            if (w_ctrl[i]) begin
                ctrl_lane = 4'(i);
            end
        end
    end

    logic       end_now;    // this word ends the frame
    logic [2:0] end_bytes;  // frame bytes in the ending word (lanes before the end)
    logic       term_ok;    // the end is a /T/
    assign end_now = (state_q == ST_DATA) && (abort_q || !ctrl_lane[3]);
    assign end_bytes = abort_q ? 3'd0 : ctrl_lane[2:0];
    assign term_ok = !abort_q && (w_data[8*end_bytes +: 8] == XGMII_TERM);

    // CRC after 0..8 bytes of the word.
    logic [31:0] crc_after [9];
    assign crc_after[0] = crc_q;
    for (genvar k = 1; k <= 8; k++) begin : g_crc
        crc32_eth #(
            .DATA_BYTES(k)
        ) u_crc (
            .crc_in(crc_q),
            .data(w_data[8*k-1:0]),
            .crc_out(crc_after[k])
        );
    end

    logic etype_mac_ctrl;  // this is the frame's second word and bytes 12..13 are 0x8808
    assign etype_mac_ctrl = (cnt_q == CNT_W'(8)) && (w_data[47:32] == ETYPE_MAC_CONTROL_LANES);

    // ---------------------------------------------------------------- end-of-frame status
    logic [CNT_W-1:0] frame_len;
    logic             len_over;
    logic [4:0]       end_user;
    assign frame_len = cnt_q + CNT_W'(end_bytes);
    assign len_over = frame_len > MAX_BYTES;

    always_comb begin
        end_user = '0;
        if (xerr_q || !term_ok) begin
            end_user = {REASON_XGMII_ERROR, 1'b1};
        end else if (frame_len < MIN_BYTES) begin
            end_user = {REASON_RUNT, 1'b1};
        end else if (over_q || len_over) begin
            end_user = {REASON_OVERSIZE, 1'b1};
        end else if (crc_after[{1'b0, end_bytes}] != CRC_RESIDUE) begin
            end_user = {REASON_BAD_FCS, 1'b1};
        end else if (mac_q || etype_mac_ctrl) begin
            end_user = {REASON_MAC_CONTROL, 1'b1};
        end
    end

    // Bytes still to send at the end, counted from the held word (or from this word when no
    // word is held); only used when forwarding did not already stop at the limit.
    logic [4:0] end_rem;
    always_comb begin
        if (pend_valid_q) begin
            if (len_over) begin
                end_rem = 5'(MAX_BYTES + CNT_W'(8) - cnt_q);
            end else begin
                end_rem = (FCS_KEEP ? 5'd8 : 5'd4) + 5'(end_bytes);
            end
        end else if (FCS_KEEP) begin
            end_rem = 5'(end_bytes);
        end else begin
            end_rem = (end_bytes > 3'd4) ? 5'(end_bytes - 3'd4) : 5'd0;
        end
    end

    // ---------------------------------------------------------------- start of a frame
    // A /S/ is taken when idle, or in the word that ends the current frame when it lies at
    // or after the end (view B lane 0 is view A lane 4).
    logic take_a, take_b;
    logic [55:0] s_pre;    // lanes 7..1 of the start word taken: preamble and SFD
    logic [6:0]  s_ctrl;   // their control flags
    always_comb begin
        take_a = start_a && ((state_q == ST_IDLE) ||
                             (end_now && align_q == ALIGN_0 && end_bytes == 3'd0));
        take_b = !take_a && start_b &&
                 ((state_q == ST_IDLE) ||
                  (end_now && ((align_q == ALIGN_0) ? (end_bytes <= 3'd4) : (end_bytes == 3'd0))));
        s_pre = take_a ? a_data[63:8] : b_data[63:8];
        s_ctrl = take_a ? a_ctrl[7:1] : b_ctrl[7:1];
    end

    // ---------------------------------------------------------------- next state
    always_comb begin
        state_d = state_q;
        align_d = align_q;
        abort_d = 1'b0;
        xerr_d = xerr_q;
        mac_d = mac_q;
        over_d = over_q;
        cnt_d = cnt_q;
        crc_d = crc_q;
        pend_valid_d = pend_valid_q;
        pend_data_d = pend_data_q;
        pend_keep_d = pend_keep_q;
        tail_valid_d = 1'b0;
        tail_data_d = tail_data_q;
        tail_keep_d = tail_keep_q;
        tail_user_d = tail_user_q;
        out_valid_d = 1'b0;
        out_data_d = out_data_q;
        out_keep_d = out_keep_q;
        out_last_d = 1'b0;
        out_user_d = '0;

        // A last beat queued in the previous clock goes out first. While one is queued the
        // frame in progress (if any) started in the previous clock, so holds no word yet.
        if (tail_valid_q) begin
            out_valid_d = 1'b1;
            out_data_d = tail_data_q;
            out_keep_d = tail_keep_q;
            out_last_d = 1'b1;
            out_user_d = tail_user_q;
        end

        if (state_q == ST_DATA && !end_now) begin
            // A full data word.
            crc_d = crc_after[8];
            if (etype_mac_ctrl) begin
                mac_d = 1'b1;
            end
            if (!over_q) begin
                cnt_d = cnt_q + CNT_W'(8);
                if (cnt_q < MAX_BYTES) begin
                    // Part of this word is within the limit, so the held word is not the last
                    // beat: send it.
                    if (pend_valid_q) begin
                        out_valid_d = 1'b1;
                        out_data_d = pend_data_q;
                        out_keep_d = 8'hFF;
                    end
                    pend_valid_d = 1'b1;
                    pend_data_d = w_data;
                    pend_keep_d = (cnt_q + CNT_W'(8) <= MAX_BYTES) ? 8'hFF
                                : keep_mask(4'(MAX_BYTES - cnt_q));
                end
                if (cnt_q + CNT_W'(8) > MAX_BYTES) begin
                    // Oversize: the held word is now the last beat; later words only count.
                    over_d = 1'b1;
                end
            end
        end else if (end_now) begin
            state_d = ST_IDLE;
            pend_valid_d = 1'b0;
            if (over_q) begin
                // Forwarding stopped at the limit: the held word is the last beat.
                if (tail_valid_q) begin
                    tail_valid_d = 1'b1;
                    tail_data_d = pend_data_q;
                    tail_keep_d = pend_keep_q;
                    tail_user_d = end_user;
                end else begin
                    out_valid_d = 1'b1;
                    out_data_d = pend_data_q;
                    out_keep_d = pend_keep_q;
                    out_last_d = 1'b1;
                    out_user_d = end_user;
                end
            end else if (end_rem > 5'd8) begin
                // Two beats: the held word now, the rest of this word next clock.
                out_valid_d = 1'b1;
                out_data_d = pend_data_q;
                out_keep_d = 8'hFF;
                tail_valid_d = 1'b1;
                tail_data_d = w_data;
                tail_keep_d = keep_mask(4'(end_rem - 5'd8));
                tail_user_d = end_user;
            end else if (tail_valid_q) begin
                // The output is busy with the previous frame's tail: queue this end.
                tail_valid_d = 1'b1;
                tail_data_d = pend_valid_q ? pend_data_q : w_data;
                tail_keep_d = keep_mask(4'(end_rem));
                tail_user_d = end_user;
            end else begin
                out_valid_d = 1'b1;
                out_data_d = pend_valid_q ? pend_data_q : w_data;
                out_keep_d = keep_mask(4'(end_rem));
                out_last_d = 1'b1;
                out_user_d = end_user;
            end
        end

        if (take_a || take_b) begin
            state_d = ST_DATA;
            align_d = take_a ? ALIGN_0 : ALIGN_4;
            abort_d = |s_ctrl;
            xerr_d = (s_pre != PREAMBLE_SFD);
            mac_d = 1'b0;
            over_d = 1'b0;
            cnt_d = '0;
            crc_d = '1;
            pend_valid_d = 1'b0;
        end
    end

    // ---------------------------------------------------------------- registers
    always_ff @(posedge clk) begin
        if (rst) begin
            state_q <= ST_IDLE;
            pend_valid_q <= 1'b0;
            tail_valid_q <= 1'b0;
            out_valid_q <= 1'b0;
        end else begin
            state_q <= state_d;
            pend_valid_q <= pend_valid_d;
            tail_valid_q <= tail_valid_d;
            out_valid_q <= out_valid_d;
        end
    end

    always_ff @(posedge clk) begin
        align_q <= align_d;
        abort_q <= abort_d;
        xerr_q <= xerr_d;
        mac_q <= mac_d;
        over_q <= over_d;
        cnt_q <= cnt_d;
        crc_q <= crc_d;
        pend_data_q <= pend_data_d;
        pend_keep_q <= pend_keep_d;
        tail_data_q <= tail_data_d;
        tail_keep_q <= tail_keep_d;
        tail_user_q <= tail_user_d;
        out_data_q <= out_data_d;
        out_keep_q <= out_keep_d;
        out_last_q <= out_last_d;
        out_user_q <= out_user_d;
    end

    assign m_axis_tdata = out_data_q;
    assign m_axis_tkeep = out_keep_q;
    assign m_axis_tvalid = out_valid_q;
    assign m_axis_tlast = out_last_q;
    assign m_axis_tuser = out_user_q;

endmodule

`resetall
