"""seqcnn.motifs"""
