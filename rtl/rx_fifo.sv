// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Store-and-forward packet FIFO (user clock): drops bad and overflowing frames whole, counts
// them by drop reason, and presents each good frame with its length on every beat.
//
// Write side. s_axis_tready is 1 whenever out of reset: the FIFO never back-pressures. Beats
// are written to the data RAM at a speculative pointer; on tlast the frame is committed (the
// committed pointer moves, its length is pushed to the length FIFO) or rolled back (the
// speculative pointer returns to the committed one) and counted in drop_count under
//   - tuser[4:1], when tuser[0] (frame bad, set by the MAC) is 1;
//   - DROP_REASON_OVERSIZE, when longer than MAX_FRAME_BYTES;
//   - DROP_REASON_RUNT, when it holds no byte at all (tkeep = 0 on a lone tlast beat);
//   - DROP_REASON_FIFO_OVERFLOW, when a beat found the RAM full (the rest of the frame is
//     then not written) or the length FIFO was full at tlast;
// in that priority order, so each frame is counted exactly once. Only the reasons a frame
// can reach this block with (bad_fcs, runt, oversize, xgmii_error, mac_control, cdc_drop) and
// fifo_overflow have counters; the others read 0, and a bad frame carrying one of them is
// dropped uncounted. Input contract: tkeep contiguous from lane 0, all ones except on tlast
// beats (tkeep = 0 on a tlast beat adds no byte); tuser valid with tlast.
//
// Read side. The RAM read register and the output register form a two-stage pipeline that
// stalls as a whole on m_axis_tready (the RAM's read enable follows tready combinationally):
// one beat per cycle, across frame boundaries too. A committed frame appears on m_axis three
// cycles after its tlast beat; with the sink stalled, these two stages hold up to two beats
// taken out of the RAM. m_axis_tuser is the frame length in bytes on every beat, m_axis_tkeep
// is all ones but on the last beat, where it follows from the length.
//
// level_bytes is the RAM occupancy in bytes (whole words, the frame being written included).
module rx_fifo #(
    // Data RAM size in bytes; a power of two, at least MAX_FRAME_BYTES.
    parameter int unsigned DEPTH_BYTES      = 32768,
    // Longest frame accepted, in bytes (9018 B jumbo + two VLAN tags); longer: oversize.
    parameter int unsigned MAX_FRAME_BYTES  = 9018 + 8,
    // Length FIFO depth in frames (frames committed and not yet started on m_axis); a power of
    // two. The default holds a RAM full of 64-byte frames.
    parameter int unsigned LEN_DEPTH_FRAMES = DEPTH_BYTES / 64,
    // Stream data width in bits: 8 * a power of two, at least 16.
    parameter int unsigned DATA_W           = 64
) (
    input  logic                 clk,
    input  logic                 rst,

    // ---- frames in, from the clock-crossing FIFO ----
    input  logic [DATA_W-1:0]    s_axis_tdata,
    input  logic [DATA_W/8-1:0]  s_axis_tkeep,
    input  logic                 s_axis_tvalid,
    output logic                 s_axis_tready,
    input  logic                 s_axis_tlast,
    input  logic [4:0]           s_axis_tuser,   // with tlast: [0] bad, [4:1] drop reason

    // ---- good frames out, to the DMA ----
    output logic [DATA_W-1:0]    m_axis_tdata,
    output logic [DATA_W/8-1:0]  m_axis_tkeep,
    output logic                 m_axis_tvalid,
    input  logic                 m_axis_tready,
    output logic                 m_axis_tlast,
    output logic [15:0]          m_axis_tuser,   // frame length in bytes, on every beat

    // ---- counters and status ----
    // 64-bit frame counter per drop reason, reason r at [64*r +: 64].
    output logic [splitrx_records_pkg::DROP_REASON_COUNT*64-1:0] drop_count,
    output logic [63:0]          frames_in_good,  // frames committed
    output logic [$clog2(DEPTH_BYTES):0] level_bytes  // RAM occupancy in bytes
);

    import splitrx_records_pkg::*;

    localparam int unsigned KEEP_W      = DATA_W / 8;                    // bytes per beat
    localparam int unsigned LANE_W      = $clog2(KEEP_W);                // byte-in-beat bits
    localparam int unsigned DEPTH_WORDS = DEPTH_BYTES / KEEP_W;          // RAM words
    localparam int unsigned ADDR_W      = $clog2(DEPTH_WORDS);           // RAM address bits
    localparam int unsigned PTR_W       = ADDR_W + 1;                    // address + wrap bit
    localparam int unsigned LF_ADDR_W   = $clog2(LEN_DEPTH_FRAMES);      // length FIFO address
    localparam int unsigned LF_PTR_W    = LF_ADDR_W + 1;
    localparam int unsigned LEN_W       = 16;                            // frame length bits
    localparam int unsigned REASON_W    = 4;                             // tuser[4:1]
    localparam int unsigned NREASONS    = DROP_REASON_COUNT;
    localparam int unsigned CNT_W       = 64;

    // Reasons that have a counter in this block.
    localparam logic [NREASONS-1:0] COUNTED =
        NREASONS'((64'd1 << DROP_REASON_BAD_FCS) | (64'd1 << DROP_REASON_RUNT) |
                  (64'd1 << DROP_REASON_OVERSIZE) | (64'd1 << DROP_REASON_XGMII_ERROR) |
                  (64'd1 << DROP_REASON_MAC_CONTROL) | (64'd1 << DROP_REASON_FIFO_OVERFLOW) |
                  (64'd1 << DROP_REASON_CDC_DROP));

    localparam logic [REASON_W-1:0] R_RUNT     = REASON_W'(DROP_REASON_RUNT);
    localparam logic [REASON_W-1:0] R_OVERSIZE = REASON_W'(DROP_REASON_OVERSIZE);
    localparam logic [REASON_W-1:0] R_OVERFLOW = REASON_W'(DROP_REASON_FIFO_OVERFLOW);
    localparam logic [LEN_W-1:0]    MAX_LEN    = LEN_W'(MAX_FRAME_BYTES);
    localparam logic [LEN_W-1:0]    BEAT_LEN   = LEN_W'(KEEP_W);
    // A frame must fit the RAM, and its length plus one beat must fit LEN_W bits.
    localparam int unsigned MAX_FRAME_LIMIT =
        DEPTH_BYTES < 2 ** LEN_W - 1 - KEEP_W ? DEPTH_BYTES : 2 ** LEN_W - 1 - KEEP_W;

    if (DATA_W < 16 || (DATA_W & (DATA_W - 1)) != 0) begin : g_check_data
        $fatal(0, "rx_fifo: DATA_W must be 8 times a power of two, at least 16 (instance %m)");
    end
    if (DEPTH_BYTES < 2 * KEEP_W || (DEPTH_BYTES & (DEPTH_BYTES - 1)) != 0) begin : g_check_depth
        $fatal(0, "rx_fifo: DEPTH_BYTES must be a power of two, at least two beats (instance %m)");
    end
    if (MAX_FRAME_BYTES == 0 || MAX_FRAME_BYTES > MAX_FRAME_LIMIT) begin : g_check_max
        $fatal(0, "rx_fifo: MAX_FRAME_BYTES must be in 1..%0d (instance %m)", MAX_FRAME_LIMIT);
    end
    if (LEN_DEPTH_FRAMES < 2 || (LEN_DEPTH_FRAMES & (LEN_DEPTH_FRAMES - 1)) != 0) begin : g_check_lf
        $fatal(0, "rx_fifo: LEN_DEPTH_FRAMES must be a power of two, at least 2 (instance %m)");
    end
    if (NREASONS > 2 ** REASON_W) begin : g_check_reasons
        $fatal(0, "rx_fifo: drop reasons no longer fit tuser[4:1] (instance %m)");
    end

    // Bytes in a beat whose tkeep is contiguous from lane 0.
    function automatic logic [LEN_W-1:0] keep_bytes(input logic [KEEP_W-1:0] keep);
        logic [LEN_W-1:0] n;
        n = '0;
        for (int i = 0; i < KEEP_W; i++) begin
            if (keep[i]) n = LEN_W'(i + 1);
        end
        return n;
    endfunction

    // tkeep of the last beat of a frame whose length is rem bytes modulo KEEP_W.
    function automatic logic [KEEP_W-1:0] last_keep(input logic [LANE_W-1:0] rem);
        logic [KEEP_W-1:0] k;
        for (int i = 0; i < KEEP_W; i++) begin
            k[i] = (rem == '0) || (LANE_W'(i) < rem);
        end
        return k;
    endfunction

    // ---------------------------------------------------------------------------------------
    // Storage (unreset)
    // ---------------------------------------------------------------------------------------
    logic [DATA_W-1:0] mem    [DEPTH_WORDS];       // data RAM
    logic [LEN_W-1:0]  lf_mem [LEN_DEPTH_FRAMES];  // length FIFO

    // ---------------------------------------------------------------------------------------
    // Control state
    // ---------------------------------------------------------------------------------------
    logic                in_ready_q;                 // out of reset: take beats
    logic [PTR_W-1:0]    wr_ptr_q, wr_ptr_d;         // committed write pointer (words)
    logic [PTR_W-1:0]    wr_cur_q, wr_cur_d;         // speculative write pointer (words)
    logic [LEN_W-1:0]    in_bytes_q, in_bytes_d;     // bytes of the frame so far
    logic                in_ovf_q, in_ovf_d;         // frame met a full RAM: drop it
    logic                in_big_q, in_big_d;         // frame longer than MAX_FRAME_BYTES
    logic [LF_PTR_W-1:0] lf_wr_q, lf_wr_d;           // length FIFO write pointer
    logic [LF_PTR_W-1:0] lf_rd_q, lf_rd_d;           // length FIFO read pointer
    logic [PTR_W-1:0]    rd_ptr_q, rd_ptr_d;         // next RAM word to read
    logic                rd_active_q, rd_active_d;   // a frame is being read out
    logic [LEN_W-1:0]    rd_left_q, rd_left_d;       // its bytes not yet read
    logic [LEN_W-1:0]    rd_len_q, rd_len_d;         // its length
    logic                s1_valid_q, s1_valid_d;     // RAM read register holds a beat
    logic                m_valid_q, m_valid_d;       // output register holds a beat
    logic [CNT_W-1:0]    good_q, good_d;             // frames committed

    // ---- datapath registers (unreset) ----
    logic [DATA_W-1:0]   s1_data_q;                  // RAM read register
    logic                s1_last_q;
    logic [KEEP_W-1:0]   s1_keep_q;
    logic [LEN_W-1:0]    s1_len_q;
    logic [DATA_W-1:0]   m_data_q;                   // output register
    logic                m_last_q;
    logic [KEEP_W-1:0]   m_keep_q;
    logic [LEN_W-1:0]    m_len_q;

    // ---- combinational ----
    logic                beat;          // input handshake
    logic [LEN_W-1:0]    beat_bytes;    // bytes in this input beat
    logic [LEN_W-1:0]    frame_bytes;   // frame length including this beat
    logic                ram_full;
    logic                lf_full;
    logic                ovf_now;
    logic                big_now;
    logic                mem_we;
    logic                lf_we;
    logic                drop;          // a frame ends dropped this cycle
    logic [REASON_W-1:0] drop_reason;
    logic                m_adv;         // output register may load
    logic                s1_adv;        // RAM read register may load
    logic                rd_issue;      // read a RAM word this cycle
    logic [LEN_W-1:0]    rd_left_cur;   // bytes left of the frame the issued word belongs to
    logic [LEN_W-1:0]    rd_len_cur;    // and its length
    logic                rd_last;       // the issued word is its frame's last

    // ---------------------------------------------------------------------------------------
    // Write side
    // ---------------------------------------------------------------------------------------
    always_comb begin
        wr_ptr_d    = wr_ptr_q;
        wr_cur_d    = wr_cur_q;
        in_bytes_d  = in_bytes_q;
        in_ovf_d    = in_ovf_q;
        in_big_d    = in_big_q;
        lf_wr_d     = lf_wr_q;
        good_d      = good_q;
        mem_we      = 1'b0;
        lf_we       = 1'b0;
        drop        = 1'b0;
        drop_reason = '0;

        beat        = s_axis_tvalid && in_ready_q;
        beat_bytes  = s_axis_tlast ? keep_bytes(s_axis_tkeep) : BEAT_LEN;
        frame_bytes = in_bytes_q + beat_bytes;
        ram_full    = (wr_cur_q - rd_ptr_q) == PTR_W'(DEPTH_WORDS);
        lf_full     = (lf_wr_q - lf_rd_q) == LF_PTR_W'(LEN_DEPTH_FRAMES);
        ovf_now     = in_ovf_q || (beat_bytes != '0 && ram_full);
        big_now     = in_big_q || frame_bytes > MAX_LEN;

        if (beat) begin
            mem_we = !in_ovf_q && !in_big_q && beat_bytes != '0 && !ram_full;
            if (mem_we) begin
                wr_cur_d = wr_cur_q + 1'b1;
            end
            if (s_axis_tlast) begin
                in_bytes_d = '0;
                in_ovf_d   = 1'b0;
                in_big_d   = 1'b0;
                if (s_axis_tuser[0]) begin
                    drop        = 1'b1;
                    drop_reason = s_axis_tuser[4:1];
                end else if (big_now) begin
                    drop        = 1'b1;
                    drop_reason = R_OVERSIZE;
                end else if (frame_bytes == '0) begin
                    drop        = 1'b1;
                    drop_reason = R_RUNT;
                end else if (ovf_now || lf_full) begin
                    drop        = 1'b1;
                    drop_reason = R_OVERFLOW;
                end else begin
                    lf_we    = 1'b1;
                    lf_wr_d  = lf_wr_q + 1'b1;
                    wr_ptr_d = wr_cur_d;
                    good_d   = good_q + 1'b1;
                end
                if (drop) begin
                    wr_cur_d = wr_ptr_q;
                end
            end else begin
                // Once too long, stop counting (the count stays within LEN_W bits).
                in_bytes_d = big_now ? in_bytes_q : frame_bytes;
                in_ovf_d   = ovf_now;
                in_big_d   = big_now;
            end
        end
    end

    always_ff @(posedge clk) begin
        if (mem_we) begin
            mem[wr_cur_q[ADDR_W-1:0]] <= s_axis_tdata;
        end
        if (lf_we) begin
            lf_mem[lf_wr_q[LF_ADDR_W-1:0]] <= frame_bytes;
        end
    end

    // ---------------------------------------------------------------------------------------
    // Read side
    // ---------------------------------------------------------------------------------------
    always_comb begin
        lf_rd_d     = lf_rd_q;
        rd_ptr_d    = rd_ptr_q;
        rd_active_d = rd_active_q;
        rd_left_d   = rd_left_q;
        rd_len_d    = rd_len_q;
        s1_valid_d  = s1_valid_q;
        m_valid_d   = m_valid_q;

        m_adv       = !m_valid_q || m_axis_tready;
        s1_adv      = !s1_valid_q || m_adv;
        rd_len_cur  = rd_active_q ? rd_len_q : lf_mem[lf_rd_q[LF_ADDR_W-1:0]];
        rd_left_cur = rd_active_q ? rd_left_q : rd_len_cur;
        rd_last     = rd_left_cur <= BEAT_LEN;
        rd_issue    = s1_adv && (rd_active_q || lf_wr_q != lf_rd_q);

        if (rd_issue) begin
            if (!rd_active_q) begin
                lf_rd_d = lf_rd_q + 1'b1;
            end
            rd_ptr_d    = rd_ptr_q + 1'b1;
            rd_active_d = !rd_last;
            rd_left_d   = rd_left_cur - BEAT_LEN;
            rd_len_d    = rd_len_cur;
        end
        if (s1_adv) begin
            s1_valid_d = rd_issue;
        end
        if (m_adv) begin
            m_valid_d = s1_valid_q;
        end
    end

    always_ff @(posedge clk) begin
        if (rd_issue) begin
            s1_data_q <= mem[rd_ptr_q[ADDR_W-1:0]];
            s1_last_q <= rd_last;
            s1_keep_q <= rd_last ? last_keep(rd_len_cur[LANE_W-1:0]) : '1;
            s1_len_q  <= rd_len_cur;
        end
        if (m_adv) begin
            m_data_q <= s1_data_q;
            m_last_q <= s1_last_q;
            m_keep_q <= s1_keep_q;
            m_len_q  <= s1_len_q;
        end
    end

    // ---------------------------------------------------------------------------------------
    // Control registers
    // ---------------------------------------------------------------------------------------
    always_ff @(posedge clk) begin
        if (rst) begin
            in_ready_q  <= 1'b0;
            wr_ptr_q    <= '0;
            wr_cur_q    <= '0;
            in_bytes_q  <= '0;
            in_ovf_q    <= 1'b0;
            in_big_q    <= 1'b0;
            lf_wr_q     <= '0;
            lf_rd_q     <= '0;
            rd_ptr_q    <= '0;
            rd_active_q <= 1'b0;
            rd_left_q   <= '0;
            rd_len_q    <= '0;
            s1_valid_q  <= 1'b0;
            m_valid_q   <= 1'b0;
            good_q      <= '0;
        end else begin
            in_ready_q  <= 1'b1;
            wr_ptr_q    <= wr_ptr_d;
            wr_cur_q    <= wr_cur_d;
            in_bytes_q  <= in_bytes_d;
            in_ovf_q    <= in_ovf_d;
            in_big_q    <= in_big_d;
            lf_wr_q     <= lf_wr_d;
            lf_rd_q     <= lf_rd_d;
            rd_ptr_q    <= rd_ptr_d;
            rd_active_q <= rd_active_d;
            rd_left_q   <= rd_left_d;
            rd_len_q    <= rd_len_d;
            s1_valid_q  <= s1_valid_d;
            m_valid_q   <= m_valid_d;
            good_q      <= good_d;
        end
    end

    // ---------------------------------------------------------------------------------------
    // Drop counters: one per counted reason
    // ---------------------------------------------------------------------------------------
    for (genvar r = 0; r < NREASONS; r++) begin : g_drop
        if (COUNTED[r]) begin : g_cnt
            logic [CNT_W-1:0] cnt_q, cnt_d;

            always_comb begin
                cnt_d = cnt_q;
                if (drop && drop_reason == REASON_W'(r)) begin
                    cnt_d = cnt_q + 1'b1;
                end
            end

            always_ff @(posedge clk) begin
                if (rst) begin
                    cnt_q <= '0;
                end else begin
                    cnt_q <= cnt_d;
                end
            end

            assign drop_count[r*CNT_W +: CNT_W] = cnt_q;
        end else begin : g_none
            assign drop_count[r*CNT_W +: CNT_W] = '0;
        end
    end

    // ---------------------------------------------------------------------------------------
    // Outputs
    // ---------------------------------------------------------------------------------------
    assign s_axis_tready  = in_ready_q;
    assign m_axis_tdata   = m_data_q;
    assign m_axis_tkeep   = m_keep_q;
    assign m_axis_tvalid  = m_valid_q;
    assign m_axis_tlast   = m_last_q;
    assign m_axis_tuser   = m_len_q;
    assign frames_in_good = good_q;
    assign level_bytes    = {wr_cur_q - rd_ptr_q, LANE_W'(0)};

endmodule

`resetall
